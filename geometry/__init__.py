"""Geometry: voxel grids and analytic phantoms (box, slabs, voxel files)."""
