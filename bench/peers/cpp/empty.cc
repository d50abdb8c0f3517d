// The start-up and binary-size floor: a C++ program that does nothing.
int main() {}
