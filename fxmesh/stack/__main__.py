"""``python -m fxmesh.stack``: see fxmesh.stack.cli."""

from fxmesh.stack.cli import main

main()
