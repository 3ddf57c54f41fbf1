"""SIGTERM (preemption) and SIGINT record the run as killed, and the signal still does what
it did before: the default action ends the process by the signal, a user's handler runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from runstream.settings import Settings
from support.counts import assert_exactly_once, spooled
from support.runs import scalar, store

CHILD = textwrap.dedent(
    """
    import signal, sys, time
    import runstream

    {before}
    run = runstream.init(project="tests", name="preempted", heartbeat_interval=0.2,
                         capture_env=False, capture_code=False, system_interval=None)
    {body}
    """
)

LOOP = """
for step in range(3):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def _signalled(script: str, number: int) -> subprocess.CompletedProcess[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    child.send_signal(number)
    out, err = child.communicate(timeout=60)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def _status(settings: Settings) -> str:
    with store(settings) as client:
        status: str = scalar(client, "SELECT status FROM runstream.runs WHERE name='preempted'")
        counts = assert_exactly_once(client, spooled(settings.local_spool_dir))
    assert (counts["metrics"], counts["runs_started"], counts["runs_finished"]) == (3, 1, 1)
    return status


def test_sigterm_records_killed_and_the_process_still_dies_by_the_signal(
    runstream_dir: Settings,
) -> None:
    done = _signalled(CHILD.format(before="", body=LOOP), signal.SIGTERM)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert _status(runstream_dir) == "killed"


def test_sigterm_runs_the_users_handler_after_the_run_is_finished(
    runstream_dir: Settings,
) -> None:
    before = textwrap.dedent(
        """
        def on_term(signum, frame):
            print("user handler: run finished" if runstream.active_run() is None
                  else "user handler: run active", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, on_term)
        """
    )
    done = _signalled(CHILD.format(before=before, body=LOOP), signal.SIGTERM)
    assert done.returncode == 7, done.stderr
    assert "user handler: run finished" in done.stdout
    assert _status(runstream_dir) == "killed"


def test_ctrl_c_still_raises_keyboard_interrupt_and_records_killed(
    runstream_dir: Settings,
) -> None:
    body = "try:\n    with run:\n" + textwrap.indent(LOOP, "        ")
    body += "except KeyboardInterrupt:\n    print('caught KeyboardInterrupt', flush=True)\n"
    done = _signalled(CHILD.format(before="", body=body), signal.SIGINT)
    assert done.returncode == 0, done.stderr
    assert "caught KeyboardInterrupt" in done.stdout
    assert _status(runstream_dir) == "killed"


def test_sigint_with_a_users_handler_records_killed_and_runs_it(runstream_dir: Settings) -> None:
    before = textwrap.dedent(
        """
        def on_int(signum, frame):
            print("user handler ran", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGINT, on_int)
        """
    )
    done = _signalled(CHILD.format(before=before, body=LOOP), signal.SIGINT)
    assert done.returncode == 0, done.stderr
    assert "user handler ran" in done.stdout
    assert _status(runstream_dir) == "killed"
