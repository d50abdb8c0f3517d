// empty: the start-up and binary-size floor of a Go program.
package main

func main() {}
