"""``python -m modelcycle``: the command line."""

from modelcycle.cli.app import main

if __name__ == "__main__":
    main()
