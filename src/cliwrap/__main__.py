import signal
import sys

# Ctrl-C while Python imports cliwrap ends the process quietly (the server takes SIGINT
# over once it runs; see cli.main).
signal.signal(signal.SIGINT, signal.SIG_DFL)

from .cli import main  # noqa: E402

sys.exit(main())
