"""HDF5 output (written atomically) and the depth-dose figure.

Schema (see README "Output"): ``/dose`` [Gy], ``/dose_std`` [Gy], ``/dose_per_primary``
[Gy per primary], optional ``/dose_to_water`` and ``/dose_to_water_std`` [Gy], optional
``/dose_secondary`` and ``/dose_secondary_std`` [Gy], ``/primary_fluence_z``; ``/geometry``
(material_id, density_g_cm3); ``/energy_balance`` (attributes in MeV); ``/config`` and
``/versions`` attributes at the root. Arrays are indexed [x, y, z]; ``spacing_mm`` and
``origin_mm`` (centre of voxel 0,0,0) are attributes of every grid dataset.
"""

import os
import platform
import tempfile
import time

import h5py
import numpy as np

SCHEMA_VERSION = "1.1"


def package_versions():
    """Versions of flashmc and the libraries that shape its numbers."""
    import numba

    from . import __version__

    out = {"flashmc": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "numba": numba.__version__, "h5py": h5py.__version__}
    try:
        import yaml

        out["pyyaml"] = yaml.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _grid_attrs(ds, grid, units):
    ds.attrs["units"] = units
    ds.attrs["spacing_mm"] = grid.spacing_cm * 10.0
    ds.attrs["origin_mm"] = grid.origin_cm * 10.0
    ds.attrs["axes"] = "x,y,z"


def write_atomic(path, writer):
    """Call ``writer(h5file)`` on a temporary file beside ``path``, then rename it to ``path``,
    so that ``path`` is either complete or absent."""
    path = os.path.abspath(path)
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".h5", dir=d)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            writer(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_result(path, result, config_text, resolved_yaml):
    """Write a :class:`mc.run.RunResult` to HDF5 at ``path`` (atomically)."""
    grid = result.grid

    def writer(f):
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        f.attrs["config"] = resolved_yaml
        f.attrs["config_input"] = config_text
        for k, v in package_versions().items():
            f.attrs[f"version_{k}"] = v
        for name, arr, units in (("dose", result.dose, "Gy"), ("dose_std", result.dose_std, "Gy"),
                                 ("dose_per_primary", result.dose_per_primary, "Gy per primary")):
            ds = f.create_dataset(name, data=arr.astype(np.float32), compression="gzip", compression_opts=1)
            _grid_attrs(ds, grid, units)
        f["dose"].attrs["protons"] = result.protons
        f["dose"].attrs["primaries_simulated"] = result.primaries
        if result.dose_to_water is not None:
            for name, arr in (("dose_to_water", result.dose_to_water), ("dose_to_water_std", result.dose_to_water_std)):
                ds = f.create_dataset(name, data=arr.astype(np.float32), compression="gzip", compression_opts=1)
                _grid_attrs(ds, grid, "Gy")
        if result.dose_secondary is not None:
            for name, arr in (("dose_secondary", result.dose_secondary),
                              ("dose_secondary_std", result.dose_secondary_std)):
                ds = f.create_dataset(name, data=arr.astype(np.float32), compression="gzip", compression_opts=1)
                _grid_attrs(ds, grid, "Gy")
                ds.attrs["description"] = "part of /dose deposited by secondary protons and nuclear fragments"
        if result.primary_fluence_z is not None:
            ds = f.create_dataset("primary_fluence_z", data=result.primary_fluence_z)
            ds.attrs["units"] = "fraction of primaries"
            ds.attrs["description"] = ("primaries (no non-elastic reaction yet) reaching voxel layer k along z, "
                                       "per simulated primary")
        g = f.create_group("geometry")
        ds = g.create_dataset("material_id", data=grid.material_id, compression="gzip", compression_opts=1)
        _grid_attrs(ds, grid, "index into /geometry attribute materials")
        ds = g.create_dataset("density_g_cm3", data=grid.density.astype(np.float32), compression="gzip",
                              compression_opts=1)
        _grid_attrs(ds, grid, "g/cm^3")
        g.attrs["materials"] = np.array(grid.materials, dtype=h5py.string_dtype())
        eb = f.create_group("energy_balance")
        for k, v in result.energy_balance.items():
            eb.attrs[k] = v
        run = f.create_group("run")
        for k, v in result.run_info.items():
            run.attrs[k] = v

    return write_atomic(path, writer)


def depth_profile(result):
    """Integrated depth dose along z: (z_mm, energy per primary per unit depth [MeV/mm])."""
    grid = result.grid
    z_mm = grid.axis_centres_cm(2) * 10.0
    edep = result.edep_per_primary.sum(axis=(0, 1))
    return z_mm, edep / (grid.spacing_cm[2] * 10.0)


def plot_depth_dose(path_png, result, title=None):
    """Integrated depth-dose and central-axis dose versus depth (z), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .analysis import r_distal

    z_mm, idd = depth_profile(result)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.plot(z_mm, idd, color="C0", label="all particles")
    if result.edep_secondary_per_primary is not None:
        sec = result.edep_secondary_per_primary.sum(axis=(0, 1)) / (result.grid.spacing_cm[2] * 10.0)
        a1.plot(z_mm, sec, color="C2", label="secondary protons and fragments")
    a1.set_xlabel("depth z (mm)")
    a1.set_ylabel("integrated depth dose (MeV/mm per primary)")
    r80 = r_distal(z_mm, idd, 0.8)
    if np.isfinite(r80):
        a1.axvline(r80, color="C3", ls="--", lw=1, label=f"R80 = {r80:.1f} mm")
    a1.legend()
    a1.grid(alpha=0.3)
    grid = result.grid
    ix, iy = grid.shape[0] // 2, grid.shape[1] // 2
    d = result.dose[ix, iy, :]
    e = result.dose_std[ix, iy, :]
    a2.plot(z_mm, d, color="C1")
    a2.fill_between(z_mm, d - 2 * e, d + 2 * e, color="C1", alpha=0.3, lw=0, label="±2 s.e.")
    a2.set_xlabel("depth z (mm)")
    a2.set_ylabel(f"central-axis dose (Gy, {result.protons:.3g} protons)")
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle(title or "flashmc depth dose")
    fig.tight_layout()
    tmp = path_png + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path_png)
    return path_png
