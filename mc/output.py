"""HDF5 output (written atomically) and the depth-dose figure.

Schema (see README "Output"): ``/dose`` [Gy], ``/dose_std`` [Gy], ``/dose_per_primary``
[Gy per primary], optional ``/dose_to_water`` and ``/dose_to_water_std`` [Gy], optional
``/dose_secondary`` and ``/dose_secondary_std`` [Gy], ``/primary_fluence_z``; with LET on,
``/let_d``, ``/let_t`` and their ``_std``, ``_water``, ``_primary`` and ``_water_primary``
variants [keV/um]; with an ``rbe`` block, ``/rbe/<model>`` and ``/dose_rbe/<model>``
[Gy(RBE)] and ``/alpha_beta_Gy``; with a ``flash`` block, ``/flash`` (maps of dose rate, pO2
and FLASH-modified dose; the delivery timelines; see ``flash.analysis``); ``/geometry``
(material_id, density_g_cm3); for a treatment plan ``/structures/<name>`` (voxel masks on
the dose grid) and ``/plan`` (the plan's identifiers, fractions and spots; see
:func:`write_case`); ``/energy_balance`` (attributes in MeV); ``/config`` and
``/versions`` attributes at the root. Arrays are indexed [x, y, z]; ``spacing_mm`` and
``origin_mm`` (centre of voxel 0,0,0) are attributes of every grid dataset.

Output files (HDF5, PNG figures, and the RT Dose files of ``mc.dicom_out``) are written to a
temporary file beside the target and renamed, so each is complete or absent; before the rename
the file gets the permission bits an ordinary new file gets under the process umask
(0o666 & ~umask: 0644 under the usual umask 022, readable by colleagues on a shared system),
not the owner-only 0600 of :func:`tempfile.mkstemp`.
"""

import os
import platform
import tempfile
import time

import h5py
import numpy as np

SCHEMA_VERSION = "1.4"

#: Descriptions of the LET datasets (all keV/um, unrestricted electronic stopping power).
LET_DESCRIPTIONS = {
    "let_d": "dose-averaged LET in the voxel's medium, all transported charged particles "
             "(a proton beam: primary and secondary protons, the clinical convention; an ion beam: every species)",
    "let_t": "track-averaged LET in the voxel's medium, all transported charged particles",
    "let_d_std": "standard error of /let_d (ratio estimator over batches)",
    "let_t_std": "standard error of /let_t (ratio estimator over batches)",
    "let_d_water": "dose-averaged LET converted to water (stopping power of water at each step's energy)",
    "let_d_water_std": "standard error of /let_d_water (ratio estimator over batches)",
    "let_t_water": "track-averaged LET converted to water",
    "let_d_primary": "dose-averaged LET in the medium, primary protons only",
    "let_t_primary": "track-averaged LET in the medium, primary protons only",
    "let_d_water_primary": "dose-averaged LET in water, primary protons only",
    "let_t_water_primary": "track-averaged LET in water, primary protons only",
}


def let_description(name):
    """Description of LET dataset ``name``: :data:`LET_DESCRIPTIONS`, or for an ion beam's
    fragment-group datasets (suffix ``_H``, ``_He``, ``_Li-Be-B``, ``_C``) the base name's
    restricted to that group."""
    if name in LET_DESCRIPTIONS:
        return LET_DESCRIPTIONS[name]
    base, _, group = name.rpartition("_")
    return f"{LET_DESCRIPTIONS.get(base, base)}; fragment group {group} only"


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


def default_file_mode():
    """Permission bits of a newly created regular file under the current umask: 0o666 & ~umask
    (POSIX open(2) with mode 0666, as ``open(path, "w")`` does)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def chmod_default(path):
    """Give ``path`` the permission bits of an ordinary new file (see :func:`default_file_mode`)."""
    os.chmod(path, default_file_mode())


def check_writable_folder(folder, field, fix):
    """Create ``folder`` if needed and check that a file can be written in it, before any work
    (ConfigError naming ``field`` and the ``fix`` otherwise)."""
    from .errors import ConfigError

    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{field}: cannot write to {folder!r} ({exc.strerror}); {fix}") from None


def replace_atomically(path, suffix, write):
    """Call ``write(tmp)`` on a new temporary file beside ``path`` (name ending in ``suffix``),
    give it the umask's permission bits and rename it to ``path``, so that ``path`` is complete
    or absent; the temporary file is removed on any failure. Returns the absolute path."""
    path = os.path.abspath(path)
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=d)
    os.close(fd)
    try:
        write(tmp)
        chmod_default(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_atomic(path, writer):
    """Call ``writer(h5file)`` on a temporary file beside ``path``, then rename it to ``path``,
    so that ``path`` is either complete or absent (:func:`replace_atomically`)."""
    def write(tmp):
        with h5py.File(tmp, "w") as f:
            writer(f)

    return replace_atomically(path, ".h5", write)


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
            ds = f.create_dataset(name, data=np.asarray(arr, np.float32), compression="gzip", compression_opts=1)
            _grid_attrs(ds, grid, units)
        f["dose"].attrs["protons"] = result.protons
        f["dose"].attrs["primaries_simulated"] = result.primaries
        if result.dose_to_water is not None:
            for name, arr in (("dose_to_water", result.dose_to_water), ("dose_to_water_std", result.dose_to_water_std)):
                ds = f.create_dataset(name, data=np.asarray(arr, np.float32), compression="gzip", compression_opts=1)
                _grid_attrs(ds, grid, "Gy")
        if result.dose_secondary is not None:
            for name, arr in (("dose_secondary", result.dose_secondary),
                              ("dose_secondary_std", result.dose_secondary_std)):
                ds = f.create_dataset(name, data=np.asarray(arr, np.float32), compression="gzip", compression_opts=1)
                _grid_attrs(ds, grid, "Gy")
                ds.attrs["description"] = "part of /dose deposited by secondary protons and nuclear fragments"
        if result.let is not None:
            lets = dict(result.let)
            lets.update({k + "_std": v for k, v in result.let_std.items()})
            for name in lets:
                ds = f.create_dataset(name, data=np.asarray(lets[name], np.float32), compression="gzip",
                                      compression_opts=1)
                _grid_attrs(ds, grid, "keV/um")
                ds.attrs["description"] = let_description(name)
        if getattr(result, "dose_group", None) is not None:
            g_grp = f.create_group("dose_group")
            g_grp.attrs["description"] = ("dose [Gy] deposited along the tracks of each fragment group (H, He, "
                                          "Li-Be-B, C; primaries in their own group); fragments and recoils "
                                          "deposited on the spot are in /dose only")
            for name, arr in result.dose_group.items():
                ds = g_grp.create_dataset(name, data=arr, compression="gzip", compression_opts=1)
                _grid_attrs(ds, grid, "Gy")
        if result.rbe is not None:
            info = result.rbe_info
            g_rbe = f.create_group("rbe")
            g_dose = f.create_group("dose_rbe")
            for model, arr in result.rbe.items():
                ds = g_rbe.create_dataset(model, data=np.asarray(arr, np.float32), compression="gzip",
                                          compression_opts=1)
                _grid_attrs(ds, grid, "1")
                ds = g_dose.create_dataset(model, data=np.asarray(result.dose_rbe[model], np.float32),
                                           compression="gzip", compression_opts=1)
                _grid_attrs(ds, grid, "Gy(RBE)")
                ds.attrs["description"] = f"RBE ({model}) x /dose"
            ds = f.create_dataset("alpha_beta_Gy", data=info["alpha_beta_Gy"].astype(np.float32),
                                  compression="gzip", compression_opts=1)
            _grid_attrs(ds, grid, "Gy")
            ds.attrs["description"] = "photon alpha/beta per voxel used by the RBE models"
            for grp in (g_rbe, g_dose):
                grp.attrs["models"] = np.array(list(result.rbe), dtype=h5py.string_dtype())
                grp.attrs["let"] = "zstar_mix_Gy" if "mkm" in result.rbe else "let_d_water"
                grp.attrs["dose_per_fraction_Gy"] = (np.nan if info["dose_per_fraction_Gy"] is None
                                                     else info["dose_per_fraction_Gy"])
                grp.attrs["reference_dose_Gy"] = info["reference_dose_Gy"]
                grp.attrs["fraction_dose_scale"] = info["fraction_dose_scale"]
                grp.attrs["description"] = ("RBE evaluated at the fraction dose fraction_dose_scale x /dose per "
                                            "voxel (physics.rbe); /dose_rbe/<model> = RBE x /dose, i.e. for the "
                                            "protons of /dose, not per fraction. Voxels without dose have RBE 0; "
                                            "in low-dose voxels LETd, hence RBE, is noisy")
        if getattr(result, "zstar_mix", None) is not None and result.rbe is not None and "mkm" in result.rbe:
            ds = f.create_dataset("zstar_mix_Gy", data=np.asarray(result.zstar_mix, np.float32), compression="gzip",
                                  compression_opts=1)
            _grid_attrs(ds, grid, "Gy")
            ds.attrs["description"] = ("dose-weighted saturation-corrected specific energy z1D* of the modified MKM "
                                       "(physics.mkm), scored per step for every species")
            cell = result.rbe_info["mkm_cell"]
            for k in ("name", "alpha0_per_Gy", "beta0_per_Gy2", "domain_radius_um", "nucleus_radius_um",
                      "alpha_x_per_Gy", "beta_x_per_Gy2"):
                ds.attrs["mkm_" + k] = getattr(cell, k)
        if getattr(result, "flash", None) is not None:  # a flash.analysis.FlashResult
            result.flash.write_hdf5(f, lambda ds, units: _grid_attrs(ds, grid, units))
        if getattr(result, "case", None) is not None:
            write_case(f, result.case, lambda ds, units: _grid_attrs(ds, grid, units))
        if result.primary_fluence_z is not None:
            ds = f.create_dataset("primary_fluence_z", data=result.primary_fluence_z)
            ds.attrs["units"] = "fraction of primaries"
            ds.attrs["description"] = ("primaries (no non-elastic reaction yet) reaching voxel layer k along z, "
                                       "per simulated primary")
        g = f.create_group("geometry")
        ds = g.create_dataset("material_id", data=grid.material_id, compression="gzip", compression_opts=1)
        _grid_attrs(ds, grid, "index into /geometry attribute materials")
        ds = g.create_dataset("density_g_cm3", data=np.asarray(grid.density, np.float32), compression="gzip",
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


def write_case(f, case, grid_attrs):
    """``/structures/<name>`` (uint8 masks: 1 where the voxel centre lies inside the structure,
    :func:`geometry.structures.structure_masks`) and ``/plan`` of a :class:`mc.patient.PatientCase`:
    attributes (plan file, SOPInstanceUID, label, fractions planned, the fractions /dose is for,
    machine, calibration, CT FrameOfReferenceUID) and one row per plan spot of the selected
    beams (``beam_number``, ``nominal_energy_MeV``, ``mu`` per fraction)."""
    if case.masks:
        g = f.create_group("structures")
        for name, mask in case.masks.items():
            ds = g.create_dataset(name.replace("/", "_"), data=mask.astype(np.uint8), compression="gzip",
                                  compression_opts=1)
            grid_attrs(ds, "1 inside, 0 outside")
            ds.attrs["name"] = name
            ds.attrs["interpreted_type"] = case.structure_types.get(name) or ""
    p = f.create_group("plan")
    plan = case.plan
    for key, value in (("file", plan.path), ("sop_instance_uid", plan.sop_instance_uid), ("label", plan.label),
                       ("fractions_planned", plan.fractions_planned), ("dose_fractions", case.fractions),
                       ("machine", case.machine.name), ("machine_file", case.machine.path),
                       ("calibration", case.calibration_source),
                       ("frame_of_reference_uid", case.ct.frame_of_reference_uid)):
        p.attrs[key] = value
    p.attrs["description"] = (f"/dose is the dose of {case.fractions} fraction(s) of the plan's selected beams "
                              "(meterset x protons per MU of the machine, less the protons that non-elastic "
                              "reactions in range shifters remove: range_shifter_removed_protons and their "
                              "kinetic energy range_shifter_removed_energy_MeV, per fraction, not transported)")
    p.attrs["range_shifter_removed_protons"] = case.source.removed_protons
    p.attrs["range_shifter_removed_energy_MeV"] = case.source.removed_energy_MeV
    src = case.source
    beam_numbers = np.array([b.number for b in case.beams])
    n_plan = src.mu.size
    beam_of_spot = np.zeros(n_plan, np.int64)
    beam_of_spot[src.spot_of] = src.beam_of
    p.create_dataset("beam_number", data=beam_numbers[beam_of_spot])
    p.create_dataset("nominal_energy_MeV", data=src.nominal_energy_MeV)
    ds = p.create_dataset("mu", data=src.mu)
    ds.attrs["units"] = "MU per fraction"
    p.attrs["beam_names"] = np.array([b.name for b in case.beams], dtype=h5py.string_dtype())
    p.attrs["beam_numbers"] = beam_numbers


def save_figure(fig, path_png, dpi=110):
    """Save a matplotlib figure as PNG atomically (:func:`replace_atomically`; the file mode
    follows the umask) and close it."""
    import matplotlib.pyplot as plt

    try:
        return replace_atomically(path_png, ".png", lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        plt.close(fig)


def depth_profile(result):
    """Integrated depth dose along z: (z_mm, energy per primary per unit depth [MeV/mm])."""
    grid = result.grid
    z_mm = grid.axis_centres_cm(2) * 10.0
    edep = result.edep_per_primary.sum(axis=(0, 1))
    return z_mm, edep / (grid.spacing_cm[2] * 10.0)


def central_columns(grid, half_width=1):
    """Slices along x and y of the voxel columns whose centres lie within ``half_width`` voxels
    of the grid's central axis (x, y at the middle of the grid): 3 x 3 columns for odd, 2 x 2
    for even voxel counts with ``half_width=1``."""

    def central(axis):
        c = grid.axis_centres_cm(axis)
        mid = 0.5 * (c[0] + c[-1])
        sel = np.nonzero(np.abs(c - mid) <= (half_width + 0.01) * grid.spacing_cm[axis])[0]
        return slice(sel[0], sel[-1] + 1)

    return central(0), central(1)


def _area_label(grid, sx, sy):
    nx, ny = sx.stop - sx.start, sy.stop - sy.start
    wx, wy = nx * grid.spacing_cm[0] * 10.0, ny * grid.spacing_cm[1] * 10.0
    return f"mean of {nx} x {ny} voxels ({wx:.3g} mm x {wy:.3g} mm) on the central axis"


def central_axis_dose(result, half_width=1):
    """Central-axis depth-dose profile, averaged over the voxel columns of
    :func:`central_columns`: z [mm], mean dose [Gy], an upper bound of its standard error [Gy]
    (the mean of the voxels' standard errors: the standard deviation of a sum is at most the
    sum of the standard deviations, with equality for fully correlated voxels) and a label
    naming the area."""
    grid = result.grid
    sx, sy = central_columns(grid, half_width)
    dose = result.dose[sx, sy, :].mean(axis=(0, 1))
    err = result.dose_std[sx, sy, :].mean(axis=(0, 1))
    return grid.axis_centres_cm(2) * 10.0, dose, err, _area_label(grid, sx, sy)


def depth_dose_figure(result, title=None):
    """The depth-dose figure (a matplotlib Figure): integrated depth dose with its R80 where the
    curve has a distal fall-off in the phantom (see ``mc.analysis``), and the central-axis dose
    of :func:`central_axis_dose` with +-2 standard errors; both dose axes start at 0."""
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
    else:
        a1.plot([], [], " ", label="no distal fall-off in the phantom (no R80)")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a1.set_ylim(bottom=0.0)
    z_mm, d, e, area = central_axis_dose(result)
    a2.plot(z_mm, d, color="C1")
    a2.fill_between(z_mm, d - 2 * e, d + 2 * e, color="C1", alpha=0.3, lw=0, label="±2 s.e. (upper bound)")
    a2.set_xlabel("depth z (mm)")
    a2.set_ylabel(f"dose (Gy, {result.protons:.3g} protons)")
    a2.set_title(f"central axis: {area}", fontsize=9)
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    a2.set_ylim(bottom=0.0)
    fig.suptitle(title or "flashmc depth dose")
    fig.tight_layout()
    return fig


def plot_depth_dose(path_png, result, title=None):
    """Save :func:`depth_dose_figure` as PNG."""
    return save_figure(depth_dose_figure(result, title), path_png)


def depth_profiles_let_rbe(result, half_width=1):
    """Central-axis depth profiles for the LET/RBE figure: z [mm], dose [Gy], LETd in water
    [keV/um] (dose-weighted over the voxel columns of :func:`central_columns`), RBE-weighted
    dose per model [Gy(RBE)] and, for an ion beam, the dose per fragment group [Gy] (averaged
    over the same voxels); ``area`` names the columns."""
    grid = result.grid
    sx, sy = central_columns(grid, half_width)
    D = result.dose[sx, sy, :]
    dsum = D.sum(axis=(0, 1))
    let = np.zeros_like(dsum)
    np.divide((result.let["let_d_water"][sx, sy, :] * D).sum(axis=(0, 1)), dsum, out=let, where=dsum > 0)
    out = {"z_mm": grid.axis_centres_cm(2) * 10.0, "dose": D.mean(axis=(0, 1)), "let_d_water": let,
           "area": _area_label(grid, sx, sy)}
    if result.dose_rbe is not None:
        out["dose_rbe"] = {m: v[sx, sy, :].mean(axis=(0, 1)) for m, v in result.dose_rbe.items()}
    if getattr(result, "dose_group", None) is not None:
        out["dose_group"] = {g: v[sx, sy, :].mean(axis=(0, 1)) for g, v in result.dose_group.items()}
    return out


def let_rbe_figure(result, title=None):
    """The LET/RBE figure (a matplotlib Figure): depth profiles of dose, RBE-weighted dose (per
    model) and LETd from :func:`depth_profiles_let_rbe`; the dose axis starts at 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = depth_profiles_let_rbe(result)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    ax.plot(p["z_mm"], p["dose"], color="k", lw=2, label="physical dose")
    for i, (m, d) in enumerate((p.get("dose_rbe") or {}).items()):
        ax.plot(p["z_mm"], d, color=f"C{i}", lw=1.3, label=f"RBE-weighted dose ({m})")
    for i, (g, d) in enumerate((p.get("dose_group") or {}).items()):
        ax.plot(p["z_mm"], d, color="0.45", lw=0.9, ls=(0, (1 + i, 1 + i)), label=f"dose of {g} ions")
    ax.set_xlabel("depth z (mm)")
    ax.set_ylabel(f"dose (Gy) / RBE-weighted dose (Gy(RBE)),\n{p['area']}")
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0.0)
    ax2 = ax.twinx()
    show = p["dose"] > 0.01 * p["dose"].max()
    ax2.plot(p["z_mm"][show], p["let_d_water"][show], color="tab:purple", ls="--", lw=1.5, label="LETd (water)")
    ax2.set_ylabel("dose-averaged LET in water (keV/µm)", color="tab:purple")
    ax2.set_ylim(bottom=0.0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    fig.suptitle(title or "flashmc: dose, LETd and RBE-weighted dose")
    fig.tight_layout()
    return fig


def plot_let_rbe(path_png, result, title=None):
    """Save :func:`let_rbe_figure` as PNG."""
    return save_figure(let_rbe_figure(result, title), path_png)


def plot_plan(path_png, result, title=None, body=None):
    """A plan recomputation on one figure: axial, coronal and sagittal slices through the dose
    maximum inside ``body`` (a voxel mask, e.g. the tissue inside the EXTERNAL structure; default
    the whole grid: in air, where a voxel's mass is 1/800 of water's, single nuclear events make
    the dose spiky) with the mass density in grey, the dose above 5 % of that maximum in colour and the
    structure outlines; and the cumulative dose-volume histogram of every structure (fraction
    of its voxels receiving at least each dose)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .dose_volume import cumulative_dvh

    grid, dose, case = result.grid, result.dose, result.case
    c = [grid.axis_centres_cm(a) * 10.0 for a in range(3)]
    inside = dose if body is None else np.where(body, dose, 0.0)
    peak = np.unravel_index(np.argmax(inside), dose.shape)
    dmax = float(inside.max())
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.4))
    views = (("axial (z = {:.0f} mm)", 2, (0, 1)), ("coronal (y = {:.0f} mm)", 1, (0, 2)),
             ("sagittal (x = {:.0f} mm)", 0, (1, 2)))
    for ax, (name, cut, (h, v)) in zip(axes, views):
        sl = [slice(None)] * 3
        sl[cut] = peak[cut]
        extent = (c[h][0], c[h][-1], c[v][0], c[v][-1])
        ax.imshow(grid.density[tuple(sl)].T, origin="lower", extent=extent, cmap="gray", vmin=0, vmax=2.0,
                  interpolation="nearest")
        d = np.ma.masked_less(dose[tuple(sl)].T, 0.05 * dmax)
        im = ax.imshow(d, origin="lower", extent=extent, cmap="jet", alpha=0.55, vmin=0, vmax=dmax,
                       interpolation="nearest")
        for i, (sname, mask) in enumerate(case.masks.items()):
            m = mask[tuple(sl)].T.astype(float)
            if m.any():
                ax.contour(c[h], c[v], m, levels=[0.5], colors=[f"C{i}"], linewidths=1.0)
        ax.set_title(name.format(c[cut][peak[cut]]))
        ax.set_xlabel(f"{'xyz'[h]} (mm)")
        ax.set_ylabel(f"{'xyz'[v]} (mm)")
        if v == 1:
            ax.invert_yaxis()  # the axial view with anterior (-y) up, as a supine patient is seen
    fig.colorbar(im, ax=axes[2], label=f"dose (Gy, {case.fractions} fraction(s))", fraction=0.046)
    ax = axes[3]
    levels = np.linspace(0.0, 1.05 * dmax, 211)
    for i, (sname, mask) in enumerate(case.masks.items()):
        if mask.any():
            ax.plot(levels, cumulative_dvh(dose, mask, levels), color=f"C{i}", label=sname)
    ax.set_xlabel("dose (Gy)")
    ax.set_ylabel("volume (%)")
    ax.set_title("cumulative DVH")
    ax.grid(alpha=0.3)
    if case.masks:
        ax.legend(fontsize=8)
    fig.suptitle(title or f"flashmc plan recomputation: {case.plan.label}")
    fig.tight_layout()
    return save_figure(fig, path_png)
