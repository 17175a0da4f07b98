"""esup: the one command-line entry point of the electronic supervision platform."""
