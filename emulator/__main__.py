"""`python -m emulator --port 8765 --seed 7 ...`: serve the emulator until Ctrl-C."""

from emulator.cli import parse_args, serve

serve(parse_args())
