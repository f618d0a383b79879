"""Analytic phantoms turned into voxel grids: a homogeneous box and a box of slabs along z.

Lengths in cm; the box is centred laterally on x = y = 0 and its upstream face is at z = 0
(beam along +z enters there), unless ``corner_cm`` gives the minimum corner.
"""

import numpy as np

from physics.materials import get_material

from .voxel import VoxelGrid


def _axis_count(size_cm, voxel_cm, name):
    n = size_cm / voxel_cm
    if abs(n - round(n)) > 1e-6 * max(1.0, n) or round(n) < 1:
        raise ValueError(f"{name}: size {size_cm * 10:g} mm is not a whole number of "
                         f"{voxel_cm * 10:g} mm voxels; change the size or the voxel size")
    return int(round(n))


def _default_corner(size_cm):
    return np.array([-0.5 * size_cm[0], -0.5 * size_cm[1], 0.0])


def box(material, size_cm, voxel_cm, density=None, corner_cm=None):
    """Homogeneous box of ``material`` (library name); ``density`` [g/cm^3] defaults to the
    material's nominal density."""
    size_cm = np.asarray(size_cm, float)
    voxel_cm = np.asarray(voxel_cm, float)
    shape = tuple(_axis_count(size_cm[a], voxel_cm[a], f"geometry.size_mm[{a}]") for a in range(3))
    m = get_material(material)
    rho = m.density if density is None else float(density)
    corner = _default_corner(size_cm) if corner_cm is None else np.asarray(corner_cm, float)
    return VoxelGrid(np.zeros(shape, np.int32), np.full(shape, rho), (m.name,), voxel_cm,
                     corner + 0.5 * voxel_cm)


def slabs(layers, lateral_size_cm, voxel_cm, corner_cm=None):
    """Box made of slabs stacked along +z. ``layers`` is a list of (material, thickness_cm,
    density or None); each thickness must be a whole number of voxels along z so that every
    interface lies on a voxel boundary (no partial-volume mixing)."""
    voxel_cm = np.asarray(voxel_cm, float)
    nx = _axis_count(lateral_size_cm[0], voxel_cm[0], "geometry.size_mm[0]")
    ny = _axis_count(lateral_size_cm[1], voxel_cm[1], "geometry.size_mm[1]")
    names, ids, rhos = [], [], []
    for i, (mat, thick, rho) in enumerate(layers):
        m = get_material(mat)
        if m.name not in names:
            names.append(m.name)
        nz = _axis_count(thick, voxel_cm[2], f"geometry.slabs[{i}].thickness_mm")
        ids += [names.index(m.name)] * nz
        rhos += [m.density if rho is None else float(rho)] * nz
    shape = (nx, ny, len(ids))
    mat_id = np.broadcast_to(np.array(ids, np.int32), shape).copy()
    dens = np.broadcast_to(np.array(rhos, float), shape).copy()
    size = np.array([nx * voxel_cm[0], ny * voxel_cm[1], len(ids) * voxel_cm[2]])
    corner = _default_corner(size) if corner_cm is None else np.asarray(corner_cm, float)
    return VoxelGrid(mat_id, dens, tuple(names), voxel_cm, corner + 0.5 * voxel_cm)


def load_voxel_file(path):
    """Load a voxel grid from ``.npz`` or HDF5 (``.h5``/``.hdf5``).

    Required entries: ``material_id`` (int, nx x ny x nz), ``density_g_cm3`` (float, same
    shape), ``materials`` (names, indexed by material_id), ``spacing_mm`` (3), ``origin_mm``
    (3, centre of voxel 0,0,0).
    """
    import os

    if not os.path.isfile(path):
        raise ValueError(f"geometry.file: {path!r} does not exist or is not a file")
    data = {}
    try:
        if str(path).endswith((".h5", ".hdf5")):
            import h5py

            with h5py.File(path, "r") as f:
                for k in f.keys():
                    data[k] = f[k][()]
        else:
            with np.load(path, allow_pickle=False) as f:
                for k in f.files:
                    data[k] = f[k]
    except Exception as exc:  # unreadable or corrupt file
        raise ValueError(f"geometry.file: cannot read {path!r} ({exc}); expected .npz or HDF5") from exc
    need = ("material_id", "density_g_cm3", "materials", "spacing_mm", "origin_mm")
    missing = [k for k in need if k not in data]
    if missing:
        raise ValueError(f"geometry.file: {path!r} lacks {missing}; it must contain {list(need)}")
    for key in ("spacing_mm", "origin_mm"):
        v = np.asarray(data[key], dtype=float).ravel()
        if v.shape != (3,) or not np.all(np.isfinite(v)):
            raise ValueError(f"geometry.file: {key} in {path!r} must be 3 finite numbers (x, y, z in mm), "
                             f"got {data[key]!r}")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.atleast_1d(data["materials"])]
    lib_names = []
    for n in names:
        try:
            lib_names.append(get_material(n).name)
        except KeyError as exc:
            raise ValueError(f"geometry.file: {exc.args[0]}") from None
    return VoxelGrid(data["material_id"], data["density_g_cm3"], tuple(lib_names),
                     np.asarray(data["spacing_mm"], float) / 10.0, np.asarray(data["origin_mm"], float) / 10.0)


def long_bone(size_cm, voxel_cm, centre_depth_cm, outer_radius_cm, cortical_thickness_cm,
              surrounding="soft_tissue", cortical="bone_cortical", marrow="red_marrow", corner_cm=None):
    """A long bone seen in cross-section: a box of ``surrounding`` tissue with a cylinder
    along y (axis at x = 0, z = ``centre_depth_cm`` from the upstream face) made of a cortical
    shell of ``cortical_thickness_cm`` around a marrow cavity. Each voxel takes the material at
    its centre (no partial-volume mixing); nominal densities of the library materials."""
    size_cm = np.asarray(size_cm, float)
    voxel_cm = np.asarray(voxel_cm, float)
    if not (0 < cortical_thickness_cm < outer_radius_cm):
        raise ValueError("geometry.bone: need 0 < cortical_thickness_mm < outer_radius_mm")
    shape = tuple(_axis_count(size_cm[a], voxel_cm[a], f"geometry.size_mm[{a}]") for a in range(3))
    corner = _default_corner(size_cm) if corner_cm is None else np.asarray(corner_cm, float)
    origin = corner + 0.5 * voxel_cm
    x = origin[0] + voxel_cm[0] * np.arange(shape[0])
    z = origin[2] + voxel_cm[2] * np.arange(shape[2])
    if not (corner[2] + outer_radius_cm <= centre_depth_cm <= corner[2] + size_cm[2] - outer_radius_cm):
        raise ValueError("geometry.bone.centre_depth_mm: the bone must lie inside the box along z")
    r = np.sqrt(x[:, None] ** 2 + (z[None, :] - centre_depth_cm) ** 2)  # (nx, nz)
    names = []
    for n in (surrounding, cortical, marrow):
        nm = get_material(n).name
        if nm not in names:
            names.append(nm)
    ids = np.full(r.shape, names.index(get_material(surrounding).name), np.int32)
    ids[r <= outer_radius_cm] = names.index(get_material(cortical).name)
    ids[r <= outer_radius_cm - cortical_thickness_cm] = names.index(get_material(marrow).name)
    mat_id = np.broadcast_to(ids[:, None, :], shape).copy()
    rho_lut = np.array([get_material(n).density for n in names])
    return VoxelGrid(mat_id, rho_lut[mat_id], tuple(names), voxel_cm, origin)
