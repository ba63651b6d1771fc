"""A stand-in CLI for the job's tests: runs a tiny script given on argv.

Steps: ``say:TEXT`` prints a line, ``big:N`` a JSON line of about N bytes, ``sleep:SECONDS``
waits, ``child`` starts a grandchild (``sleep 60``) in the same process group,
``ignore-term`` ignores SIGTERM, ``exit:N`` exits. ``stdin`` prints what arrived on stdin as
``stdin:<text>``; ``echo`` answers each stdin line with ``echo:<line>`` until stdin closes,
then prints ``closed`` (a dialogue, like a JSON-RPC server on stdio).
"""

import signal
import subprocess
import sys
import time

for step in sys.argv[1:]:
    name, _, arg = step.partition(":")
    if name == "stdin":
        print("stdin:" + sys.stdin.read().replace("\n", " "), flush=True)
    elif name == "echo":
        for line in sys.stdin:
            print("echo:" + line.rstrip("\n"), flush=True)
        print("closed", flush=True)
    elif name == "say":
        print(arg, flush=True)
    elif name == "big":  # a JSON line of about N bytes
        print('{"pad": "' + "x" * int(arg) + '"}', flush=True)
    elif name == "sleep":
        time.sleep(float(arg))
    elif name == "child":
        subprocess.Popen(["sleep", "60"])
    elif name == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif name == "exit":
        sys.exit(int(arg))
