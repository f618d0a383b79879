"""Cross-code benchmark: flashmc against MCsquare, side by side on the same machine.

    MCSQUARE_DIR=/path/to/MCsquare python benchmarks/vs_mcsquare.py [--primaries N] [--reps K]
    python benchmarks/vs_mcsquare.py --install-mcsquare DIR   # fetch MCsquare (below) and run

MCsquare (Souris, Lee & Sterpin 2016, Med. Phys. 43:1700; UCLouvain, Apache 2.0) is a fast CPU
proton Monte Carlo code used by OpenTPS. ``MCSQUARE_DIR`` is a folder holding its binary
(``MCsquare_linux``, the generic x86-64 build; ``--binary`` picks another) and its
``Materials/`` folder; without it the benchmark looks inside an installed ``opentps`` package,
and when neither is there it prints why it is skipped and exits with status 0.
``--install-mcsquare DIR`` downloads the ``opentps-core`` 2.0.0 wheel with pip (without its
dependencies: the wheel pins numpy < 2), checks its SHA-256 and copies the MCsquare folder out of
it (``opentps/core/processing/doseCalculation/protons/MCsquare/``) into DIR.

The same cases for both codes, each run as a process of its own with one thread (MCsquare:
``Num_Threads 1``; flashmc: one process, ``--quiet``), pinned to the same CPU:

* ``box``: water, 60 x 60 x 350 mm, 1 mm voxels; mono-energetic pencil beams of 70, 100, 150,
  200 and 230 MeV, Gaussian spot sigma 3 mm, no divergence (MCsquare: 1e-5 rad, see
  ``benchmarks/mcsquare/BDL_pencil.txt.in``), no energy spread, entering at the centre of the
  60 x 60 mm face. Physics: each code's defaults (nuclear interactions and secondaries on).
* ``wide``: the same beams in a 400 x 400 mm wide water column, one voxel across and 1 mm deep:
  the integrated depth dose with nothing lost sideways, so that the energy budget of the
  nuclear models shows without the 60 mm box's cut through the nuclear halo.
* ``slab``: 150 MeV through 30 mm water, 20 mm cortical bone (ICRU Report 46, 1.92 g/cm^3:
  MCsquare's ``Bone_Cortical``, flashmc's ``bone_cortical_icru46``) and 300 mm water, 1 mm voxels.
* LETd along the central axis (box), MCsquare with its deuteron and alpha transport off so that
  both codes average over protons only (flashmc's ``/let_d``: primary and secondary protons).

MCsquare's inputs are written by this script from the templates in ``benchmarks/mcsquare/``:
the CT as MHD (float HU; water 0 HU, bone 2000 HU) with HU-to-density and HU-to-material tables
that map these two numbers exactly to the two materials, an ideal pencil-beam BDL, the plan (one
spot of 1 MU = 1 proton, isocentre on the phantom surface) and ``config.txt``. MCsquare's beam
enters its CT along -y (gantry 0); its dose (eV/g per primary) is turned into flashmc's axes
and units.

Reported per energy, MCsquare being the reference of the comparison: 1D gamma of the integrated
depth doses (IDD, absolute per primary; pymedphys.gamma, 1 %/1 mm and 2 %/1 mm, global, low-dose
cut-off 10 % of the reference maximum, search step fine enough that the evaluated curve moves by
at most 0.1 of the dose criterion per step, :func:`gamma_interp_fraction`), R80, R90, distal
80-20 % fall-off, peak-to-entrance ratio (entrance: mean of the first 2 mm), lateral sigma of
the beam core at half the range (Gaussian fit to the projected profiles in x and y), the energy
deposited per primary, and the time per primary of each code: whole-process wall time (start-up,
input, transport, output) and transport time alone (flashmc: ``/run`` attribute ``elapsed_s``;
MCsquare: the "MC computation time" it prints). Each case runs ``--reps`` times per code with
different seeds, the two codes alternating (ABBA), and the statistical uncertainty of each
figure is the standard error of the mean over the repetitions. The 150 MeV speed case times
runs of 10^7 primaries (``--speed-primaries``), the default ``Num_Primaries`` of the MCsquare
configuration of OpenTPS (``opentps/core/data/MCsquare/_mcsquareConfig.py`` of opentps-core
2.0.0), twice per code (``--speed-reps``); smaller runs show how each code's start-up weighs.

Third references computed here (the comparison of the two codes with them is in
``docs/vs_mcsquare.md``): the CSDA range of each code's stopping-power table (flashmc: I = 78 eV,
ICRU Report 90; MCsquare: its Geant4 table ``Materials/Water/G4_Stop_Pow.dat``); the energy not
absorbed in the wide column against Bortfeld's (1997, Med. Phys. 24:2024) nuclear energy budget
(a fraction gamma = 0.6 of the energy released in non-elastic reactions absorbed locally); and
the LETd of primary protons at the Bragg peak and at R80 from the analytic model of Wilkens &
Oelfke (2003, Med. Phys. 30:806) with flashmc's water tables (``physics.let``), its range moved
to each code's R80 and averaged over the same 1 mm layers.

Writes ``benchmarks/results/vs_mcsquare.json`` (all figures and the mean curves) and
``benchmarks/results/vs_mcsquare.png``. With the defaults it takes about 25 minutes on the 2-core
development VM (the speed case about 16 of them); the results of such a run are discussed in
``docs/vs_mcsquare.md``.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass

import numpy as np
from machine import cpu_model  # benchmarks/machine.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TEMPLATES = os.path.join(HERE, "mcsquare")

ENERGIES = (70.0, 100.0, 150.0, 200.0, 230.0)
NZ = 350  # 1 mm layers along the beam
SIGMA_MM = 3.0
NOZZLE_MM = 1.0  # MCsquare: nozzle exit to isocentre (= phantom surface): 1 mm of air before the phantom
DIVERGENCE_RAD = 1.0e-5
HU_WATER, HU_BONE = 0.0, 2000.0
MCS_WATER, MCS_BONE = (17, "Water"), (38, "Bone_Cortical")  # labels of MCsquare's Materials/list.dat
SLAB_MM = (30.0, 20.0, 300.0)  # water, bone, water along the beam
SLAB_ENERGY = 150.0
BONE_DENSITY = 1.92
ENTRANCE_MM = 2.0
GAMMA_CUTOFF_PERCENT = 10.0
MEV_PER_J = 1.0 / 1.602176634e-13
EV_PER_MEV = 1.0e6
_trapz = getattr(np, "trapezoid", None) or np.trapz  # numpy >= 2 / < 2

WHEEL = {"name": "opentps-core", "version": "2.0.0", "file": "opentps_core-2.0.0-py3-none-any.whl",
         "sha256": "37d400264a3fe1c529f555aa669ae3178a088d56ab1be5a24b2af444fb073a61",
         "folder": "opentps/core/processing/doseCalculation/protons/MCsquare/"}

FLASHMC_CFG = """
geometry: {geometry}
beam: {{energy_MeV: {E}, energy_spread_MeV: 0.0, position_mm: [0, 0, -1], direction: [0, 0, 1],
       spot_sigma_mm: [{sigma}, {sigma}], divergence_mrad: [0, 0]}}
run: {{primaries: {n}, seed: {seed}}}
output: {{path: {out}, plot: false, let: {let}}}
"""


@dataclass(frozen=True)
class Phantom:
    """A phantom of ``n`` x ``n`` lateral voxels of ``lateral_mm`` and ``NZ`` layers of 1 mm, in
    flashmc's axes (x, y lateral, z along the beam from z = 0), centred on the beam."""

    name: str
    n: int
    lateral_mm: float
    slabs: bool = False

    @property
    def width_mm(self):
        return self.n * self.lateral_mm

    @property
    def voxel_area_cm2(self):
        return (self.lateral_mm / 10.0) ** 2

    def density(self):
        """Mass density [g/cm^3] of each 1 mm layer."""
        rho = np.ones(NZ)
        if self.slabs:
            rho[int(SLAB_MM[0]):int(SLAB_MM[0] + SLAB_MM[1])] = BONE_DENSITY
        return rho

    def hu(self):
        hu = np.full((self.n, self.n, NZ), HU_WATER, np.float32)
        hu[:, :, self.density() > 1.0] = HU_BONE
        return hu

    def flashmc_geometry(self):
        w, v = f"{self.width_mm:g}", f"{self.lateral_mm:g}"
        if not self.slabs:
            return f"{{type: box, material: water, size_mm: [{w}, {w}, {NZ}], voxel_mm: [{v}, {v}, 1]}}"
        return (f"{{type: slabs, size_mm: [{w}, {w}, {NZ}], voxel_mm: [{v}, {v}, 1], slabs: ["
                f"{{material: water, thickness_mm: {SLAB_MM[0]:g}}}, {{material: bone_cortical_icru46, "
                f"thickness_mm: {SLAB_MM[1]:g}, density_g_cm3: {BONE_DENSITY}}}, "
                f"{{material: water, thickness_mm: {SLAB_MM[2]:g}}}]}}")


BOX = Phantom("box", 60, 1.0)
WIDE = Phantom("wide", 1, 400.0)
SLAB = Phantom("slab", 60, 1.0, slabs=True)


# ----------------------------------------------------------------------------------------------
# Locating and installing MCsquare
# ----------------------------------------------------------------------------------------------

def find_mcsquare(binary):
    """(folder, binary path) of MCsquare from ``MCSQUARE_DIR`` or an installed opentps package,
    or (None, the reason)."""
    candidates = []
    if os.environ.get("MCSQUARE_DIR"):
        candidates.append(os.environ["MCSQUARE_DIR"])
    else:
        spec = importlib.util.find_spec("opentps")
        if spec is not None and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidates.append(os.path.join(loc, "core", "processing", "doseCalculation", "protons", "MCsquare"))
    if not candidates:
        return None, ("MCSQUARE_DIR is not set and no opentps package is installed "
                      "(python benchmarks/vs_mcsquare.py --install-mcsquare DIR fetches MCsquare)")
    for folder in candidates:
        exe = os.path.join(folder, binary)
        if os.path.isfile(exe) and os.path.isdir(os.path.join(folder, "Materials")):
            if not os.access(exe, os.X_OK):
                os.chmod(exe, os.stat(exe).st_mode | 0o111)
            return folder, exe
    return None, f"no {binary} and Materials/ in {', '.join(candidates)}"


def install_mcsquare(dest):
    """Download the opentps-core wheel with pip (no dependencies), check its SHA-256 and copy
    its MCsquare folder (binaries, Materials/, Scanners/, BDL/) into ``dest``."""
    tmp = tempfile.mkdtemp(prefix="opentps")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", f"{WHEEL['name']}=={WHEEL['version']}",
                        "--no-deps", "--only-binary", ":all:", "-d", tmp], check=True)
        wheel = os.path.join(tmp, WHEEL["file"])
        with open(wheel, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != WHEEL["sha256"]:
            raise SystemExit(f"{WHEEL['file']}: SHA-256 {digest} is not the expected {WHEEL['sha256']}")
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith(WHEEL["folder"]) and not name.endswith("/"):
                    target = os.path.join(dest, name[len(WHEEL["folder"]):])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with z.open(name) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
        for exe in os.listdir(dest):
            if exe.startswith("MCsquare_linux") or exe.startswith("MCsquare_opti_linux"):
                os.chmod(os.path.join(dest, exe), 0o755)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"MCsquare from {WHEEL['file']} (sha256 {WHEEL['sha256'][:12]}...) in {dest}; "
          f"run with MCSQUARE_DIR={dest}")


def check_material_labels(mcs_dir):
    """The HU-to-material table names MCsquare materials by their label in Materials/list.dat."""
    labels = {}
    with open(os.path.join(mcs_dir, "Materials", "list.dat")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                labels[int(parts[0])] = parts[1]
    for label, name in (MCS_WATER, MCS_BONE):
        if labels.get(label) != name:
            raise SystemExit(f"MCsquare Materials/list.dat: label {label} is {labels.get(label)!r}, "
                             f"expected {name!r} (benchmarks/mcsquare/HU_Material_Conversion.txt)")


def mcsquare_version(exe):
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=60).stdout
    fields = dict(re.findall(r"^(Version|Commit|Build date|Git description): *(.+)$", out, re.M))
    return {k.lower().replace(" ", "_"): v.strip() for k, v in fields.items()}


# ----------------------------------------------------------------------------------------------
# Running the two codes
# ----------------------------------------------------------------------------------------------

def _pin(cpu):
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _template(name, **values):
    with open(os.path.join(TEMPLATES, name)) as f:
        return string.Template(f.read()).substitute(**values)


def to_mcsquare(a):
    """flashmc array [x, y, z] (beam along +z from z = 0) -> MCsquare raw order [z', y', x']:
    MCsquare's x' = x, z' = y, and its beam runs along -y' from the top of its y' axis."""
    return np.ascontiguousarray(a[:, :, ::-1].transpose(1, 2, 0))


def from_mcsquare(a):
    """Inverse of :func:`to_mcsquare`."""
    return np.ascontiguousarray(a.transpose(2, 0, 1)[:, :, ::-1])


def read_mhd(path):
    header = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.split("=", 1)
                header[k.strip()] = v.strip()
    if header.get("ElementType") != "MET_FLOAT":
        raise ValueError(f"{path}: ElementType {header.get('ElementType')} (expected MET_FLOAT)")
    shape = [int(v) for v in header["DimSize"].split()][::-1]
    raw = os.path.join(os.path.dirname(path), header["ElementDataFile"])
    return np.fromfile(raw, np.float32).reshape(shape)


def write_mhd(path, arr_zyx, spacing_xyz):
    nz, ny, nx = arr_zyx.shape
    raw = os.path.splitext(os.path.basename(path))[0] + ".raw"
    arr_zyx.astype("<f4").tofile(os.path.join(os.path.dirname(path), raw))
    sx, sy, sz = spacing_xyz
    with open(path, "w") as f:
        f.write(f"ObjectType = Image\nNDims = 3\nDimSize = {nx} {ny} {nz}\nElementSpacing = {sx:g} {sy:g} {sz:g}\n"
                f"Offset = 0 0 0\nElementType = MET_FLOAT\nElementByteOrderMSB = False\nElementDataFile = {raw}\n")


class MCsquare:
    name = "mcsquare"

    def __init__(self, folder, exe, work, cpu):
        self.exe, self.work, self.cpu = exe, work, cpu
        # MCsquare keeps paths in fixed-size buffers: the materials through a short link
        self.materials = os.path.join(work, "Materials")
        if not os.path.exists(self.materials):
            os.symlink(os.path.join(os.path.abspath(folder), "Materials"), self.materials)

    def run(self, tag, ph, energy, primaries, seed, let=False):
        d = os.path.join(self.work, tag)
        os.makedirs(d, exist_ok=True)
        write_mhd(os.path.join(d, "CT.mhd"), to_mcsquare(ph.hu()), (ph.lateral_mm, 1.0, ph.lateral_mm))
        for name in ("HU_Density_Conversion.txt", "HU_Material_Conversion.txt"):
            shutil.copy(os.path.join(TEMPLATES, name), d)
        with open(os.path.join(d, "BDL.txt"), "w") as f:
            f.write(_template("BDL_pencil.txt.in", nozzle_mm=NOZZLE_MM, sigma_mm=SIGMA_MM,
                              divergence_rad=DIVERGENCE_RAD))
        with open(os.path.join(d, "Plan.txt"), "w") as f:
            f.write(_template("Plan.txt.in", iso_x=ph.width_mm / 2, iso_y=float(NZ), iso_z=ph.width_mm / 2,
                              energy_MeV=energy))
        with open(os.path.join(d, "config.txt"), "w") as f:
            f.write(_template("config.txt.in", seed=seed, primaries=primaries, let=let, heavy_secondaries=not let))
        env = dict(os.environ, MCsquare_Materials_Dir=self.materials)
        t0 = time.perf_counter()
        p = subprocess.run([self.exe, "config.txt"], cwd=d, env=env, capture_output=True, text=True,
                           preexec_fn=_pin(self.cpu))
        wall = time.perf_counter() - t0
        if p.returncode != 0 or "MC computation time" not in p.stdout:
            raise RuntimeError(f"MCsquare failed in {d} (status {p.returncode}):\n{p.stdout[-2000:]}{p.stderr}")

        def number(label):
            return float(re.search(label + r": *([\d.eE+-]+)", p.stdout).group(1))

        out = {"wall_s": wall, "primaries": int(number("Nbr primaries simulated")),
               "transport_s": number("MC computation time"), "init_s": number("Initialization time"),
               # dose in eV/g per primary -> MeV/g per primary, in flashmc's axes
               "dose_MeV_g": from_mcsquare(read_mhd(os.path.join(d, "out", "Dose.mhd"))).astype(float) / EV_PER_MEV}
        if let:
            out["let_keV_um"] = from_mcsquare(read_mhd(os.path.join(d, "out", "LET.mhd"))).astype(float)
        shutil.rmtree(d, ignore_errors=True)
        return out


class Flashmc:
    name = "flashmc"

    def __init__(self, work, cpu):
        self.work, self.cpu = work, cpu

    def run(self, tag, ph, energy, primaries, seed, let=False):
        import h5py

        d = os.path.join(self.work, tag)
        os.makedirs(d, exist_ok=True)
        cfg = os.path.join(d, "run.yaml")
        h5 = os.path.join(d, "run.h5")
        with open(cfg, "w") as f:
            f.write(FLASHMC_CFG.format(geometry=ph.flashmc_geometry(), E=energy, sigma=SIGMA_MM, n=primaries,
                                       seed=seed, out=h5, let=str(let).lower()))
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "mc.run", cfg, "--quiet"], cwd=REPO, capture_output=True,
                           text=True, preexec_fn=_pin(self.cpu))
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"flashmc failed in {d} (status {p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        with h5py.File(h5, "r") as f:
            out = {"wall_s": wall, "primaries": int(f["run"].attrs["primaries"]),
                   "transport_s": float(f["run"].attrs["elapsed_s"]),
                   "dose_MeV_g": f["dose_per_primary"][...].astype(float) * 1.0e-3 * MEV_PER_J}
            if let:
                out["let_keV_um"] = f["let_d"][...].astype(float)
        shutil.rmtree(d, ignore_errors=True)
        return out


def alternate(codes, first, reps, job):
    """``job(code, rep)`` for both codes, ``reps`` times each, in ABBA order (A = codes[first]);
    returns {0: MCsquare's results, 1: flashmc's}."""
    a, b = first, 1 - first
    order = []
    for i in range(reps):
        order += [a, b] if i % 2 == 0 else [b, a]
    res = {0: [], 1: []}
    for c in order:
        res[c].append(job(codes[c], len(res[c])))
    return res


# ----------------------------------------------------------------------------------------------
# Figures of merit
# ----------------------------------------------------------------------------------------------

Z_MM = np.arange(NZ) + 0.5  # depth of the layer centres


def idd(dose_MeV_g, ph):
    """Laterally integrated dose, MeV cm^2/g per primary (energy per unit mass thickness in water)."""
    return dose_MeV_g.sum(axis=(0, 1)) * ph.voxel_area_cm2


def r_distal(d, level):
    from mc.analysis import r_distal as rd

    return rd(Z_MM, d, level)


def lateral_sigma(dose, ph, depth_mm):
    """Sigma (mm) of a Gaussian fitted to the core (+-2.5 sigma) of the projected profiles in x and
    y over the three 1 mm layers around ``depth_mm``; the mean of the two."""
    from scipy.optimize import curve_fit

    x = (np.arange(ph.n) - ph.n / 2 + 0.5) * ph.lateral_mm
    k = int(np.clip(np.floor(depth_mm), 1, NZ - 2))
    block = dose[:, :, k - 1:k + 2].sum(axis=2)

    def g(xx, a, s_):
        return a * np.exp(-0.5 * (xx / s_) ** 2)

    sig = []
    for prof in (block.sum(axis=1), block.sum(axis=0)):
        s = 4.0
        for _ in range(3):  # refit on the window of the last sigma
            sel = np.abs(x) < 2.5 * s
            (_, s), _ = curve_fit(g, x[sel], prof[sel], p0=(prof.max(), s))
            s = abs(s)
        sig.append(s)
    return float(np.mean(sig))


def axis_dose(dose, ph):
    """Dose of the 2 x 2 voxel columns around the beam axis, per layer (MeV/g per primary)."""
    c = ph.n // 2
    return dose[c - 1:c + 1, c - 1:c + 1].mean(axis=(0, 1))


def metrics(dose, ph, r_half_mm):
    c = idd(dose, ph)
    n_entr = int(round(ENTRANCE_MM))
    r80 = r_distal(c, 0.8)
    out = {"R80_mm": r80, "R90_mm": r_distal(c, 0.9), "falloff_80_20_mm": r_distal(c, 0.2) - r80,
           "peak_to_entrance": float(c.max() / c[:n_entr].mean()),
           "peak_MeV_cm2_g": float(c.max()), "entrance_MeV_cm2_g": float(c[:n_entr].mean()),
           "energy_deposited_MeV": float(np.sum(c * ph.density()) * 0.1)}  # MeV cm^2/g x g/cm^3 x 0.1 cm
    if ph.n > 1:
        out["lateral_sigma_half_range_mm"] = lateral_sigma(dose, ph, r_half_mm)
    return out


def gamma_interp_fraction(ev, dose_pct, dta_mm, spacing_mm=1.0):
    """pymedphys' ``interp_fraction`` (the search step is dta_mm / interp_fraction) small enough
    that the linearly interpolated evaluated curve changes by at most a tenth of the dose
    criterion between two search points, at least 10 (pymedphys' default). With the default
    alone a steep distal edge (28 % of the maximum per mm at 70 MeV) moves 2.8 % per 0.1 mm
    step, so the search can step over the point where the curves meet and report gamma > 1 for
    a sub-0.1 mm shift."""
    grad = np.max(np.abs(np.diff(ev))) / spacing_mm / ev.max() * 100.0  # % of the maximum per mm
    return max(10, int(np.ceil(10.0 * grad * dta_mm / dose_pct)))


def gamma_pass(ref, ev, dose_pct, dta_mm):
    import pymedphys

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pymedphys announces a change of `quiet`
        g = pymedphys.gamma((Z_MM,), ref, (Z_MM,), ev, dose_pct, dta_mm,
                            lower_percent_dose_cutoff=GAMMA_CUTOFF_PERCENT,
                            interp_fraction=gamma_interp_fraction(ev, dose_pct, dta_mm), quiet=True)
    valid = ~np.isnan(g)
    return float(np.mean(g[valid] <= 1.0)), float(np.nanmax(g))


def mean_sem(values):
    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan"))


def summarise(runs, ph, r_half_mm):
    """Per-repetition metrics -> mean and standard error; the mean IDD and its standard error."""
    per = [metrics(r["dose_MeV_g"], ph, r_half_mm) for r in runs]
    out = {}
    for k in per[0]:
        out[k], out[k + "_sem"] = mean_sem([p[k] for p in per])
    curves = np.array([idd(r["dose_MeV_g"], ph) for r in runs])
    sem = curves.std(axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else np.zeros(NZ)
    return out, curves.mean(axis=0), sem


def compare(runs, ph, r_half_mm=None):
    """The two codes' metrics, their differences and the IDD gamma pass rates."""
    if r_half_mm is None:
        r_half_mm = 0.5 * r_distal(idd(np.mean([r["dose_MeV_g"] for r in runs[0]], axis=0), ph), 0.8)
    m_mcs, idd_mcs, sem_mcs = summarise(runs[0], ph, r_half_mm)
    m_fmc, idd_fmc, sem_fmc = summarise(runs[1], ph, r_half_mm)
    row = {"half_range_depth_mm": r_half_mm, "mcsquare": m_mcs, "flashmc": m_fmc, "diff": {}}
    for k in ("R80_mm", "R90_mm", "falloff_80_20_mm", "lateral_sigma_half_range_mm"):
        if k in m_mcs:
            row["diff"][k] = m_fmc[k] - m_mcs[k]
            row["diff"][k + "_sem"] = float(np.hypot(m_fmc[k + "_sem"], m_mcs[k + "_sem"]))
    for k, name in (("peak_to_entrance", "peak_to_entrance_rel"), ("entrance_MeV_cm2_g", "entrance_rel"),
                    ("peak_MeV_cm2_g", "peak_rel"), ("energy_deposited_MeV", "energy_deposited_rel")):
        q = m_fmc[k] / m_mcs[k]
        row["diff"][name] = q - 1.0
        row["diff"][name + "_sem"] = float(q * np.hypot(m_fmc[k + "_sem"] / m_fmc[k], m_mcs[k + "_sem"] / m_mcs[k]))
    for dp, dta in ((1.0, 1.0), (2.0, 1.0)):
        rate, gmax = gamma_pass(idd_mcs, idd_fmc, dp, dta)
        row[f"gamma_{dp:g}%/{dta:g}mm"] = rate
        row[f"gamma_max_{dp:g}%/{dta:g}mm"] = gmax
    return row, {"mcs": idd_mcs, "mcs_sem": sem_mcs, "fmc": idd_fmc, "fmc_sem": sem_fmc}


def timing(runs):
    n = np.array([r["primaries"] for r in runs], float)
    wall = np.array([r["wall_s"] for r in runs]) / n
    tr = np.array([r["transport_s"] for r in runs]) / n
    return {"runs": len(runs), "primaries_per_run": int(n[0]),
            "wall_s_per_primary": float(np.median(wall)), "transport_s_per_primary": float(np.median(tr)),
            "wall_s_per_primary_all": wall.tolist(), "transport_s_per_primary_all": tr.tolist(),
            "protons_per_s_wall": float(1.0 / np.median(wall)), "protons_per_s_transport": float(1.0 / np.median(tr))}


def axis_let(dose, let, ph):
    """Dose-weighted LETd of the 2 x 2 voxel columns around the beam axis, per layer."""
    c = ph.n // 2
    sl = (slice(c - 1, c + 1), slice(c - 1, c + 1))
    w = dose[sl]
    return (w * np.nan_to_num(let[sl])).sum(axis=(0, 1)) / np.maximum(w.sum(axis=(0, 1)), 1e-300)


# ----------------------------------------------------------------------------------------------
# Third references
# ----------------------------------------------------------------------------------------------

def csda_ranges(mcs_folder, energies):
    """CSDA range [mm] of water in each code's stopping-power table, and ICRU Report 90's where
    it is tabulated (tests/reference_data.py)."""
    from physics.tables import build_tables
    from tests.reference_data import ICRU90_WATER

    tab = build_tables(["water"])
    t = np.loadtxt(os.path.join(mcs_folder, "Materials", MCS_WATER[1], "G4_Stop_Pow.dat"))
    t = t[t[:, 0] > 0]
    out = {}
    for E in energies:
        e = np.linspace(t[0, 0], E, 20000)
        # below the table's first point (0.5 MeV) the residual range is taken from flashmc's table
        r_mcs = 10.0 * (_trapz(1.0 / np.interp(e, t[:, 0], t[:, 1]), e) + tab.csda_range(0, t[0, 0]))
        icru = ICRU90_WATER.get(int(E)) if float(E).is_integer() else None
        out[f"{E:g}"] = {"flashmc_table_mm": 10.0 * float(tab.csda_range(0, E)), "mcsquare_table_mm": float(r_mcs),
                         "icru90_mm": 10.0 * icru[1] if icru else None}
    return out


def bortfeld_not_absorbed(E):
    """Fraction of the incident energy not absorbed (neutral secondaries), Bortfeld (1997):
    (1 - gamma) x the energy released in non-elastic reactions (``physics.bragg``)."""
    from physics import bragg
    from physics.tables import build_tables

    R0 = float(build_tables(["water"]).csda_range(0, E))
    _, not_local = bragg.nonelastic_energy_budget(E, R0)
    return float(not_local / E)


def wilkens_oelfke_let(E, r80_mm, layers):
    """LETd [keV/um] of primary protons from the analytic model of Wilkens & Oelfke (2003,
    ``physics.let``; flashmc's water tables, Bortfeld's straggling width), its range shifted so
    that its R80 is ``r80_mm`` (a code's), averaged over the 1 mm ``layers`` (dose-weighted)."""
    from physics import bragg, let
    from physics.tables import build_tables

    R0 = float(build_tables(["water"]).csda_range(0, E))
    sig = float(bragg.sigma_straggling(R0))
    zf = (np.arange(NZ * 20) + 0.5) * 0.05  # mm, 20 samples per layer

    def layers_of(r0):
        with np.errstate(divide="ignore", invalid="ignore"):  # LETt at zero energy, not used here
            dose, let_d, _ = let.primary_depth_curves(zf / 10.0, r0, sig)
        d = dose.reshape(NZ, 20).sum(axis=1)
        return d, (dose * let_d).reshape(NZ, 20).sum(axis=1) / np.maximum(d, 1e-300)

    d, _ = layers_of(R0)
    d, ld = layers_of(R0 + (r80_mm - r_distal(d, 0.8)) / 10.0)
    return [float(ld[k]) for k in layers]


def predicted_shift(mcs_folder):
    """R80 shift (mm) of the bone slab predicted by each code's stopping-power tables: its
    water-equivalent thickness minus its thickness, along the CSDA path of the 150 MeV beam."""
    from physics.tables import build_tables

    tab = build_tables(["water", "bone_cortical_icru46"])
    e_in = float(tab.energy_from_range(0, tab.csda_range(0, SLAB_ENERGY) - SLAB_MM[0] / 10.0))
    e_out = float(tab.energy_from_range(1, tab.csda_range(1, e_in) - BONE_DENSITY * SLAB_MM[1] / 10.0))
    out = {"flashmc_tables": 10.0 * float(tab.csda_range(0, e_in) - tab.csda_range(0, e_out)) - SLAB_MM[1]}

    def sp(name):  # MCsquare's Geant4 mass stopping powers [MeV cm^2/g]
        t = np.loadtxt(os.path.join(mcs_folder, "Materials", name, "G4_Stop_Pow.dat"))
        return t[t[:, 0] > 0]

    w, b = sp(MCS_WATER[1]), sp(MCS_BONE[1])
    e = np.linspace(e_out, e_in, 4000)
    s_w, s_b = np.interp(e, w[:, 0], w[:, 1]), np.interp(e, b[:, 0], b[:, 1])
    # WET / thickness = int dE / S_w over int dE / (rho S_b), over the energies lost in the bone
    ratio = _trapz(1.0 / s_w, e) / _trapz(1.0 / (BONE_DENSITY * s_b), e)
    out["mcsquare_tables"] = float(SLAB_MM[1] * ratio - SLAB_MM[1])
    return out


# ----------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------

def _git_revision():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=30).stdout.strip() or None
    except OSError:
        return None


def _print_row(label, row):
    m, f = row["mcsquare"], row["flashmc"]
    sig = (f"; sigma {m['lateral_sigma_half_range_mm']:.2f} / {f['lateral_sigma_half_range_mm']:.2f} mm"
           if "lateral_sigma_half_range_mm" in m else "")
    print(f"{label}: gamma 1%/1mm {100 * row['gamma_1%/1mm']:.1f} %, 2%/1mm {100 * row['gamma_2%/1mm']:.1f} %; "
          f"R80 {m['R80_mm']:.2f} / {f['R80_mm']:.2f} mm (MCsquare / flashmc); "
          f"P/E {m['peak_to_entrance']:.3f} / {f['peak_to_entrance']:.3f}; "
          f"E dep {m['energy_deposited_MeV']:.2f} / {f['energy_deposited_MeV']:.2f} MeV{sig}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--primaries", type=int, default=250000, help="primaries per box run (code, energy, repetition)")
    ap.add_argument("--wide-primaries", type=int, default=50000, help="primaries per wide-column run")
    ap.add_argument("--reps", type=int, default=4, help="repetitions per code and case (ABBA order)")
    ap.add_argument("--let-primaries", type=int, default=200000, help="primaries of each LET run")
    ap.add_argument("--speed-primaries", type=int, default=10_000_000,
                    help="primaries of each 150 MeV speed run (default 1e7, OpenTPS's default for MCsquare)")
    ap.add_argument("--speed-reps", type=int, default=2, help="speed runs per code (ABBA, default 2)")
    ap.add_argument("--energies", type=float, nargs="+", default=list(ENERGIES))
    ap.add_argument("--binary", default="MCsquare_linux", help="MCsquare executable in MCSQUARE_DIR")
    ap.add_argument("--cpu", type=int, default=None, help="CPU both codes are pinned to (default: the last one)")
    ap.add_argument("--no-let", action="store_true")
    ap.add_argument("--no-slab", action="store_true")
    ap.add_argument("--install-mcsquare", metavar="DIR", help="fetch MCsquare from the opentps-core wheel into DIR")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args(argv)

    if a.install_mcsquare:
        install_mcsquare(os.path.abspath(a.install_mcsquare))
        os.environ["MCSQUARE_DIR"] = os.path.abspath(a.install_mcsquare)
    folder, exe = find_mcsquare(a.binary)
    if folder is None:
        print(f"vs_mcsquare: SKIPPED: {exe}")
        return 0
    check_material_labels(folder)
    sys.path.insert(0, REPO)
    cpu = a.cpu
    if cpu is None and hasattr(os, "sched_getaffinity"):
        cpu = max(os.sched_getaffinity(0))
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="vsmcsq", dir="/tmp" if os.path.isdir("/tmp") else None)
    t_start = time.time()
    codes = (MCsquare(folder, exe, work, cpu), Flashmc(work, cpu))
    version = mcsquare_version(exe)
    print(f"MCsquare {version.get('version', '?')} ({exe}); flashmc {sys.executable}; pinned to CPU {cpu}; "
          f"work in {work}", flush=True)

    # warm-up: flashmc compiles (or loads from the cache) its kernels; not timed
    t0 = time.perf_counter()
    codes[1].run("warm", BOX, 150.0, 2000, 1)
    if not a.no_let:
        codes[1].run("warmlet", BOX, 150.0, 2000, 1, let=True)
    warm_s = time.perf_counter() - t0
    print(f"flashmc warm-up (kernel compile or cache load) {warm_s:.1f} s", flush=True)

    result = {"machine": {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "pinned_cpu": cpu,
                          "platform": platform.platform(), "python": platform.python_version()},
              "threads_per_code": 1, "mcsquare": {"binary": os.path.basename(exe), "wheel": WHEEL, **version},
              "flashmc_revision": _git_revision(),
              "setup": {"box_mm": [BOX.width_mm, BOX.width_mm, NZ], "wide_mm": [WIDE.width_mm, WIDE.width_mm, NZ],
                        "voxel_mm": 1, "spot_sigma_mm": SIGMA_MM, "primaries_per_run": a.primaries,
                        "wide_primaries_per_run": a.wide_primaries, "reps": a.reps,
                        "gamma_cutoff_percent": GAMMA_CUTOFF_PERCENT, "entrance_mm": ENTRANCE_MM,
                        "flashmc_warmup_s": warm_s},
              "references": {"csda_range": csda_ranges(folder, a.energies)},
              "date": time.strftime("%Y-%m-%d %H:%M"), "water": []}
    curves, wide_curves, water_dose = {}, {}, {}
    for i, E in enumerate(a.energies):
        def job(ph, n, seed0):
            return lambda code, rep: code.run(f"{code.name[0]}{ph.name[0]}{E:g}_{rep}", ph, E, n, seed0 + rep)

        runs = alternate(codes, i % 2, a.reps, job(BOX, a.primaries, 1000 * int(E) + 1))
        row, curves[E] = compare(runs, BOX)
        row["energy_MeV"] = E
        row["timing"] = {"mcsquare": timing(runs[0]), "flashmc": timing(runs[1])}
        tm, tf = row["timing"]["mcsquare"], row["timing"]["flashmc"]
        row["speed_ratio_wall"] = tm["wall_s_per_primary"] / tf["wall_s_per_primary"]
        row["speed_ratio_transport"] = tm["transport_s_per_primary"] / tf["transport_s_per_primary"]
        if E == SLAB_ENERGY:
            water_dose = {c: np.mean([r["dose_MeV_g"] for r in runs[c]], axis=0) for c in (0, 1)}
        del runs
        _print_row(f"{E:5.0f} MeV box", row)
        print(f"      us/primary wall {1e6 * tm['wall_s_per_primary']:.1f} / {1e6 * tf['wall_s_per_primary']:.1f}, "
              f"transport {1e6 * tm['transport_s_per_primary']:.1f} / {1e6 * tf['transport_s_per_primary']:.1f}",
              flush=True)
        runs = alternate(codes, 1 - i % 2, a.reps, job(WIDE, a.wide_primaries, 2000 * int(E) + 1))
        wide, wide_curves[E] = compare(runs, WIDE)
        wide["not_absorbed_fraction"] = {c: 1.0 - wide[c]["energy_deposited_MeV"] / E for c in ("mcsquare", "flashmc")}
        wide["not_absorbed_fraction"]["bortfeld_1997"] = bortfeld_not_absorbed(E)
        row["wide"] = wide
        _print_row(f"{E:5.0f} MeV wide", wide)
        result["water"].append(row)

    # speed case: 150 MeV water box, more primaries per run
    if a.speed_primaries > 0:
        runs = alternate(codes, 0, a.speed_reps,
                         lambda code, rep: code.run(f"s{code.name[0]}_{rep}", BOX, 150.0, a.speed_primaries, 777 + rep))
        tm, tf = timing(runs[0]), timing(runs[1])
        result["speed_150MeV"] = {"mcsquare": tm, "flashmc": tf,
                                  "ratio_wall": tm["wall_s_per_primary"] / tf["wall_s_per_primary"],
                                  "ratio_transport": tm["transport_s_per_primary"] / tf["transport_s_per_primary"]}
        print(f"speed 150 MeV, {a.speed_primaries} primaries/run: MCsquare {tm['protons_per_s_wall']:.0f} "
              f"({tm['protons_per_s_transport']:.0f} transport) protons/s, flashmc {tf['protons_per_s_wall']:.0f} "
              f"({tf['protons_per_s_transport']:.0f}); ratio wall {result['speed_150MeV']['ratio_wall']:.2f}, "
              f"transport {result['speed_150MeV']['ratio_transport']:.2f}", flush=True)

    # LETd along the central axis (protons only in both codes)
    let_curves = {}
    if not a.no_let:
        result["let"] = []
        for i, E in enumerate(a.energies):
            runs = alternate(codes, i % 2, 1, lambda code, rep: code.run(f"l{code.name[0]}{E:g}", BOX, E,
                                                                         a.let_primaries, 500 + int(E), let=True))
            lm = axis_let(runs[0][0]["dose_MeV_g"], runs[0][0]["let_keV_um"], BOX)
            lf = axis_let(runs[1][0]["dose_MeV_g"], runs[1][0]["let_keV_um"], BOX)
            entry = {"energy_MeV": E, "primaries": a.let_primaries}
            for name, lc, r in (("mcsquare", lm, runs[0][0]), ("flashmc", lf, runs[1][0])):
                c = idd(r["dose_MeV_g"], BOX)
                k_peak, r80 = int(np.argmax(c)), r_distal(c, 0.8)
                wo = wilkens_oelfke_let(E, r80, (k_peak, int(r80)))
                entry[name] = {"entrance_keV_um": float(lc[:2].mean()), "mid_range_keV_um": float(lc[int(r80 / 2)]),
                               "peak_depth_mm": float(Z_MM[k_peak]), "at_peak_keV_um": float(lc[k_peak]),
                               "R80_mm": r80, "at_R80_keV_um": float(lc[int(r80)]),
                               "wilkens_oelfke_at_peak_keV_um": wo[0], "wilkens_oelfke_at_R80_keV_um": wo[1]}
            r80m = entry["mcsquare"]["R80_mm"]
            plateau = (Z_MM > ENTRANCE_MM) & (Z_MM < r80m - 10.0)
            entry["plateau_mean_ratio"] = float(np.mean(lf[plateau] / lm[plateau]))
            result["let"].append(entry)
            let_curves[E] = (lm, lf, r80m)
            em, ef = entry["mcsquare"], entry["flashmc"]
            print(f"{E:5.0f} MeV LETd: plateau flashmc/MCsquare {entry['plateau_mean_ratio']:.3f}; at peak "
                  f"{em['at_peak_keV_um']:.2f} / {ef['at_peak_keV_um']:.2f} (Wilkens-Oelfke at the same points "
                  f"{em['wilkens_oelfke_at_peak_keV_um']:.2f} / {ef['wilkens_oelfke_at_peak_keV_um']:.2f}), at R80 "
                  f"{em['at_R80_keV_um']:.2f} / {ef['at_R80_keV_um']:.2f} ({em['wilkens_oelfke_at_R80_keV_um']:.2f} / "
                  f"{ef['wilkens_oelfke_at_R80_keV_um']:.2f}) keV/um", flush=True)
            del runs

    # heterogeneous slab case
    slab_curves = None
    if not a.no_slab:
        runs = alternate(codes, 1, a.reps, lambda code, rep: code.run(f"b{code.name[0]}_{rep}", SLAB, SLAB_ENERGY,
                                                                      a.primaries, 9000 + rep))
        slab, slab_curves = compare(runs, SLAB)
        bone = SLAB.density() > 1.0
        dm = np.mean([r["dose_MeV_g"] for r in runs[0]], axis=0)
        df = np.mean([r["dose_MeV_g"] for r in runs[1]], axis=0)
        after = SLAB_MM[0] + SLAB_MM[1] + 2.0
        slab.update({"energy_MeV": SLAB_ENERGY, "layers_mm": dict(zip(("water", "bone", "water_after"), SLAB_MM)),
                     "bone": {"mcsquare": f"{MCS_BONE[1]} (label {MCS_BONE[0]})", "flashmc": "bone_cortical_icru46",
                              "density_g_cm3": BONE_DENSITY},
                     "bone_idd_ratio": float(slab_curves["fmc"][bone].sum() / slab_curves["mcs"][bone].sum()),
                     "bone_axis_dose_ratio": float(axis_dose(df, SLAB)[bone].sum() / axis_dose(dm, SLAB)[bone].sum()),
                     "lateral_sigma_after_bone_mm": {"depth_mm": after, "mcsquare": lateral_sigma(dm, SLAB, after),
                                                     "flashmc": lateral_sigma(df, SLAB, after)},
                     "predicted_shift_mm": predicted_shift(folder)})
        if water_dose:
            w = result["water"][list(a.energies).index(SLAB_ENERGY)]
            slab["R80_shift_mm"] = {"mcsquare": w["mcsquare"]["R80_mm"] - slab["mcsquare"]["R80_mm"],
                                    "flashmc": w["flashmc"]["R80_mm"] - slab["flashmc"]["R80_mm"]}
            # the same depths in the 150 MeV water box: what of the bone's axis ratio is not the bone's
            slab["water_axis_dose_ratio_same_depths"] = float(axis_dose(water_dose[1], BOX)[bone].sum()
                                                              / axis_dose(water_dose[0], BOX)[bone].sum())
            slab["lateral_sigma_same_depth_in_water_mm"] = {"mcsquare": lateral_sigma(water_dose[0], BOX, after),
                                                            "flashmc": lateral_sigma(water_dose[1], BOX, after)}
        result["slab"] = slab
        _print_row("slab 150 MeV", slab)
        print(f"      bone: IDD ratio {slab['bone_idd_ratio']:.4f}, axis dose ratio {slab['bone_axis_dose_ratio']:.4f} "
              f"(water, same depths: {slab.get('water_axis_dose_ratio_same_depths', float('nan')):.4f})", flush=True)
        del runs

    shutil.rmtree(work, ignore_errors=True)
    result["curves"] = {"depth_mm": Z_MM.tolist(),
                        "box_idd_MeV_cm2_g": {f"{E:g}": _rounded(c) for E, c in curves.items()},
                        "wide_idd_MeV_cm2_g": {f"{E:g}": _rounded(c) for E, c in wide_curves.items()},
                        "let_axis_keV_um": {f"{E:g}": _rounded({"mcs": v[0], "fmc": v[1]})
                                            for E, v in let_curves.items()},
                        "slab_idd_MeV_cm2_g": _rounded(slab_curves) if slab_curves else None}
    result["elapsed_s"] = time.time() - t_start
    png = plot(a.out, result, curves, wide_curves, let_curves, slab_curves)
    result["figure"] = os.path.basename(png)
    path = os.path.join(a.out, "vs_mcsquare.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)
    print(f"wrote {path} and {png} in {result['elapsed_s']:.0f} s")
    return 0


def _rounded(curves):
    """{name: array} -> {name: list of 6-significant-digit floats} (MCsquare 'mcs', flashmc 'fmc')."""
    return {k: [float(f"{x:.6g}") for x in np.asarray(v, float)] for k, v in curves.items()}


def plot(out_dir, result, curves, wide_curves, let_curves, slab_curves):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(19, 9.5))

    def ratio_panel(axis, cs, title):
        for i, (E, c) in enumerate(cs.items()):
            sel = c["mcs"] > 0.1 * c["mcs"].max()
            ratio = c["fmc"][sel] / c["mcs"][sel]
            band = 2.0 * ratio * np.hypot(c["fmc_sem"][sel] / c["fmc"][sel], c["mcs_sem"][sel] / c["mcs"][sel])
            axis.plot(Z_MM[sel], ratio, color=f"C{i}", lw=1.0, label=f"{E:g} MeV")
            axis.fill_between(Z_MM[sel], ratio - band, ratio + band, color=f"C{i}", alpha=0.2, lw=0)
        axis.axhline(1.0, color="k", lw=0.6)
        axis.set_ylim(0.92, 1.08)
        axis.set_xlabel("depth in water (mm)")
        axis.set_ylabel("IDD flashmc / MCsquare")
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=8)

    for i, (E, c) in enumerate(curves.items()):
        ax[0, 0].plot(Z_MM, c["mcs"], color=f"C{i}", lw=1.3, label=f"{E:g} MeV MCsquare")
        ax[0, 0].plot(Z_MM, c["fmc"], color=f"C{i}", lw=1.0, ls="--", label=f"{E:g} MeV flashmc")
    ax[0, 0].set_xlabel("depth in water (mm)")
    ax[0, 0].set_ylabel("IDD over 60 x 60 mm$^2$ (MeV cm$^2$/g per primary)")
    ax[0, 0].set_title("water box, 3 mm pencil beams: solid MCsquare, dashed flashmc", fontsize=10)
    ax[0, 0].legend(fontsize=7, ncol=2)
    ratio_panel(ax[0, 1], curves, "60 x 60 mm$^2$ box: ratio where MCsquare's IDD > 10 % of its maximum\n"
                                  "(band: 2 standard errors)")
    ratio_panel(ax[0, 2], wide_curves, "400 x 400 mm$^2$ column (nothing lost sideways): ratio")
    for i, (E, (lm, lf, r80)) in enumerate(let_curves.items()):
        sel = Z_MM < r80 + 3
        ax[1, 0].plot(Z_MM[sel], lm[sel], color=f"C{i}", lw=1.3, label=f"{E:g} MeV MCsquare")
        ax[1, 0].plot(Z_MM[sel], lf[sel], color=f"C{i}", lw=1.0, ls="--", label=f"{E:g} MeV flashmc")
    for i, e in enumerate(result.get("let", [])):
        m = e["mcsquare"]
        ax[1, 0].plot([m["peak_depth_mm"], int(m["R80_mm"]) + 0.5],
                      [m["wilkens_oelfke_at_peak_keV_um"], m["wilkens_oelfke_at_R80_keV_um"]], "k+", ms=8,
                      label="Wilkens-Oelfke (primaries) at MCsquare's peak, R80" if i == 0 else None)
    ax[1, 0].set_yscale("log")
    ax[1, 0].set_xlabel("depth in water (mm)")
    ax[1, 0].set_ylabel("LETd of protons, central 2 x 2 mm$^2$ (keV/um)")
    ax[1, 0].set_title("LETd along the central axis (to R80 + 3 mm)", fontsize=10)
    ax[1, 0].legend(fontsize=7, ncol=2)
    if slab_curves is not None:
        c = slab_curves
        ax[1, 1].plot(Z_MM, c["mcs"], lw=1.3, label="MCsquare")
        ax[1, 1].plot(Z_MM, c["fmc"], lw=1.0, ls="--", label="flashmc")
        ax[1, 1].axvspan(SLAB_MM[0], SLAB_MM[0] + SLAB_MM[1], color="0.85", label="cortical bone 1.92 g/cm$^3$")
        sel = c["mcs"] > 0.1 * c["mcs"].max()
        axr = ax[1, 1].twinx()
        axr.plot(Z_MM[sel], c["fmc"][sel] / c["mcs"][sel], color="C3", lw=0.8)
        axr.axhline(1.0, color="C3", lw=0.4)
        axr.set_ylim(0.92, 1.08)
        axr.set_ylabel("flashmc / MCsquare (red)", color="C3")
        ax[1, 1].set_xlabel("depth (mm)")
        ax[1, 1].set_ylabel("laterally integrated dose (MeV cm$^2$/g per primary)")
        ax[1, 1].set_title(f"{SLAB_ENERGY:g} MeV, 60 x 60 mm$^2$: 30 mm water, 20 mm bone, 300 mm water", fontsize=10)
        ax[1, 1].legend(fontsize=8, loc="upper left")
    rows = [w for w in result["water"] if "wide" in w]
    if rows:
        E = [w["energy_MeV"] for w in rows]
        for key, mk, lab in (("mcsquare", "o-", "MCsquare"), ("flashmc", "s--", "flashmc"),
                             ("bortfeld_1997", "k^:", "Bortfeld 1997 (gamma = 0.6)")):
            ax[1, 2].plot(E, [100 * w["wide"]["not_absorbed_fraction"][key] for w in rows], mk, label=lab)
        ax[1, 2].set_xlabel("beam energy (MeV)")
        ax[1, 2].set_ylabel("energy not absorbed in the 400 mm column (% of beam energy)")
        ax[1, 2].set_title("energy carried away (neutral secondaries)", fontsize=10)
        ax[1, 2].legend(fontsize=8)
    for x in ax.flat:
        x.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, "vs_mcsquare.png")
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    sys.exit(main())
