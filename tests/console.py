"""Running the console script's entry point inside a test."""


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """The console script's entry point, in this process: its exit status, stdout and stderr."""
    import sys

    from mlplatform.cli import main

    argv = sys.argv
    sys.argv = ["mlplatform", *args]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err
