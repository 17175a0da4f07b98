"""`python -m esup.cli …`: how `esup services up` starts its processes (the interpreter it runs under)."""

from esup.cli import main

main()
