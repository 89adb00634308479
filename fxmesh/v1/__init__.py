"""Generated fxmesh.v1 contracts: do not edit; run ``python -m fxmesh.protogen``."""
