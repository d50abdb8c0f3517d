// The start-up and binary-size measure of goro: a goro program whose main goroutine does
// nothing.
#include <goro/goro.hpp>

int main(int argc, char** argv) { return goro::run(argc, argv, [] {}); }
