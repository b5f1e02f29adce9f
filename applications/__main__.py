"""``python -m applications`` runs the ``sensequant`` command line."""

from applications.cli.main import main

if __name__ == "__main__":
    main()
