"""The dose in the first millimetre of a proton pencil beam in water, from evaluated nuclear data.

    MCSQUARE_DIR=~/mcsquare python benchmarks/entrance_reference.py [--primaries N]

A third reference for the entrance dose of ``benchmarks/vs_mcsquare.py``. In a water phantom
much wider than the beam, the laterally integrated dose of the first layer (thickness L = 1 mm)
per primary proton of energy T0 is

    D_1 = S(T(L/2)) rho L + D_sec,                                                          (1)

S the electronic mass stopping power of ICRU Report 90 (flashmc's water table; the primaries'
attenuation over the layer, 1e-3, is neglected) and D_sec the energy that the products of
nuclear reactions put into the layer. This script evaluates D_sec without either code's
sampling:

* non-elastic p + 16O reactions: the double-differential cross sections d2sigma/(dE dOmega) of
  protons, deuterons and alpha particles and the recoil energy fraction of ICRU Report 63
  (2000), as distributed with MCsquare (``Materials/oxygen/ICRU_Nuclear_inelastic.dat``: 13
  angles from 0 to 180 degrees, interpolated linearly in angle), with ICRU 63's reaction
  cross section; the recoils deposit on the spot;
* p-p elastic scattering: the cross section of Fippel & Soukup (2004, Med. Phys. 31:2263) with
  the angular distribution isotropic in the centre-of-mass frame (flashmc's own p-p model, not
  an independent reference; 0.08-0.11 % of the layer's dose), both protons followed; what the
  primary would have deposited in the rest of the layer is subtracted.

Each charged product moves on a straight line from its birth depth z' (reactions up to 6 mm
deep feed the layer: backward-emitted particles) and loses energy in the continuous-slowing-
down approximation, ranges from flashmc's ICRU 90 proton table scaled to deuterons and alpha
particles at equal velocity, R_k(E) = (m_k/m_p) / z_k^2 R_p(E m_p/m_k). Left out: the
products' own reactions and scattering, neutrons and gamma rays (not absorbed in a millimetre),
p-16O elastic recoils (0.3 MeV at most: < 0.01 % of the layer's dose) and reactions on
hydrogen's other channels (none below the pion threshold).

The script also runs flashmc on the same geometry (water 400 x 400 mm, one voxel across, 1 mm
layers) and prints, per energy, the excess of D_1 over S rho L for the reference, for flashmc
and, if ``benchmarks/results/vs_mcsquare.json`` holds a run, for both codes' wide-column IDDs
there. Writes ``benchmarks/results/entrance_reference.json``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from physics.constants import AVOGADRO, DEUTERON_MASS_MEV, PROTON_MASS_MEV  # noqa: E402
from physics.elements import element  # noqa: E402
from physics.materials import get_material  # noqa: E402
from physics.nuclear import pp_elastic_xs_mb  # noqa: E402
from physics.stopping import electronic_mass_stopping  # noqa: E402

ALPHA_MASS_MEV = 3727.3794118  # CODATA 2018
ENERGIES = (70.0, 100.0, 150.0, 200.0, 230.0)
LAYER = 0.1  # g/cm^2: 1 mm of water
DEPTH = 0.6  # g/cm^2: reactions this deep can feed the first layer
DZ = 0.005  # g/cm^2
ANGLES_DEG = np.array([0, 10, 20, 30, 40, 50, 60, 70, 90, 110, 130, 150, 180], float)
#: Mass and charge number of the ICRU 63 products followed.
PRODUCTS = {"proton": (PROTON_MASS_MEV, 1), "deuteron": (DEUTERON_MASS_MEV, 1), "alpha": (ALPHA_MASS_MEV, 2)}
WATER = get_material("water")
#: Oxygen and hydrogen atoms per gram of water.
O_PER_G = WATER.composition[8] * AVOGADRO / element(8).A
H_PER_G = WATER.composition[1] * AVOGADRO / element(1).A


def stopping(T):
    return float(np.atleast_1d(electronic_mass_stopping(WATER, float(T)))[0])


class Ranges:
    """CSDA range [g/cm^2] of protons in water from flashmc's ICRU 90 table and its inverse, scaled
    to other light ions at equal velocity."""

    def __init__(self):
        self.e = np.geomspace(0.01, 500.0, 4000)
        s = np.array([stopping(t) for t in self.e])
        self.r = np.concatenate([[0.0], np.cumsum(0.5 * (1 / s[1:] + 1 / s[:-1]) * np.diff(self.e))])
        self.r += self.e[0] / s[0] / 2.0

    def range(self, kind, E):
        m, z = PRODUCTS[kind]
        return m / PROTON_MASS_MEV / z ** 2 * np.interp(E * PROTON_MASS_MEV / m, self.e, self.r)

    def energy(self, kind, r):
        m, z = PRODUCTS[kind]
        return m / PROTON_MASS_MEV * np.interp(r * z ** 2 * PROTON_MASS_MEV / m, self.r, self.e, left=0.0)

    def layer_deposit(self, kind, E, mu, zp):
        """Energy [MeV] left in [0, LAYER] by a particle of kinetic energy E [MeV] born at depth zp
        [g/cm^2] with direction cosine mu to the beam (arrays broadcast), on a straight line."""
        E, mu = np.broadcast_arrays(np.asarray(E, float), np.asarray(mu, float))
        R = self.range(kind, E)
        fwd = mu > 0
        amu = np.maximum(np.abs(mu), 1e-12)
        s_in = np.where(fwd, 0.0, np.maximum(zp - LAYER, 0.0) / amu)
        s_out = np.where(fwd, np.maximum(LAYER - zp, 0.0) / amu, zp / amu)
        dep = self.energy(kind, np.maximum(R - s_in, 0.0)) - self.energy(kind, np.maximum(R - s_out, 0.0))
        return np.where(s_out > s_in, dep, 0.0)


def read_icru63(path):
    """Blocks of MCsquare's ICRU 63 file: list of dicts with T [MeV], xs_b [b], frec and, per
    product, the double-differential table (rows: E [MeV], integral [b/MeV], 13 angles
    [b/(MeV sr)])."""
    blocks, cur = [], None
    lines = open(path).read().splitlines()
    i = 0
    while i < len(lines):
        t = lines[i].split()
        if t and t[0] == "Energy":
            cur = {"T": float(t[1]), "ddx": {}}
            blocks.append(cur)
        elif t and t[0] == "Cross_section":
            cur["xs_b"] = float(t[1])
        elif t and t[0] == "Energy_fraction_recoils":
            cur["frec"] = float(t[1])
        elif t and t[0] == "Differential_cross_section":
            n, rows, j = int(t[2]), [], i + 1
            while len(rows) < n:
                v = lines[j].split()
                if v and not v[0].startswith("#"):
                    rows.append([float(x) for x in v])
                j += 1
            cur["ddx"][t[1]] = np.array(rows)
            i = j - 1
        i += 1
    return blocks


def nonelastic_deposit(rng, block, T):
    """Energy [MeV] per primary put into the first layer by p + 16O non-elastic reactions of
    ICRU 63's ``block`` (incident energy T [MeV]), by product kind."""
    th = np.radians(np.linspace(0.0, 180.0, 721))
    mu = np.cos(th)
    d_omega = 2.0 * np.pi * np.sin(th) * np.gradient(th)
    sigma = block["xs_b"] * 1e-24 * O_PER_G  # cm^2/g
    out = {}
    for kind, a in block["ddx"].items():
        if kind not in PRODUCTS:
            continue
        e, de = a[:, 0], np.gradient(a[:, 0])
        w = np.array([np.interp(th, np.radians(ANGLES_DEG), row[2:]) * d_omega for row in a]) * de[:, None]
        w /= block["xs_b"]  # products per reaction per (energy row, angle)
        tot = 0.0
        for zp in np.arange(DZ / 2, DEPTH, DZ):
            tot += sigma * DZ * np.sum(w * rng.layer_deposit(kind, e[:, None], mu[None, :], zp))
        out[kind] = tot
    out["recoils"] = sigma * LAYER * block["frec"] * T
    return out


def pp_elastic_deposit(rng, T, n=2001):
    """Energy [MeV] per primary added to the first layer by p-p elastic scattering inside it."""
    sigma = float(pp_elastic_xs_mb(T)[0]) * 1e-27 * H_PER_G
    M = PROTON_MASS_MEV
    t1 = T * (0.5 + 0.5 * (np.arange(n) + 0.5) / n)  # uniform on [T/2, T]
    t2 = T - t1
    c1 = np.sqrt(t1 * (T + 2 * M) / (T * (t1 + 2 * M)))
    c2 = np.sqrt(t2 * (T + 2 * M) / (T * (t2 + 2 * M)))
    tot = 0.0
    for zp in np.arange(DZ / 2, LAYER, DZ):
        both = rng.layer_deposit("proton", t1, c1, zp) + rng.layer_deposit("proton", t2, c2, zp)
        tot += sigma * DZ * (both.mean() - float(rng.layer_deposit("proton", T, 1.0, zp)))
    return tot


def flashmc_first_layer(T, primaries, seed=5):
    """flashmc's first-layer IDD per primary [MeV cm^2/g] and its standard error."""
    import h5py

    with tempfile.TemporaryDirectory() as d:
        cfg, out = os.path.join(d, "run.yaml"), os.path.join(d, "run.h5")
        with open(cfg, "w") as f:
            f.write(f"""geometry: {{type: box, material: water, size_mm: [400, 400, 20], voxel_mm: [400, 400, 1]}}
beam: {{energy_MeV: {T}, energy_spread_MeV: 0.0, position_mm: [0, 0, -1], direction: [0, 0, 1],
       spot_sigma_mm: [3, 3], divergence_mrad: [0, 0]}}
run: {{primaries: {primaries}, seed: {seed}}}
output: {{path: {out}, plot: false}}
""")
        subprocess.run([sys.executable, "-m", "mc.run", cfg, "--quiet"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        with h5py.File(out, "r") as f:
            to_mev_g = 1e-3 / 1.602176634e-13 * 40.0 * 40.0  # Gy -> MeV/g, times the area [cm^2]
            n = int(f["run"].attrs["primaries"])
            d1 = float(f["dose_per_primary"][0, 0, 0]) * to_mev_g
            se = float(f["dose_std"][0, 0, 0]) / n * to_mev_g
    return d1, se


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--primaries", type=int, default=1000000, help="flashmc primaries per energy (default 1e6)")
    ap.add_argument("--energies", type=float, nargs="+", default=list(ENERGIES))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "entrance_reference.json"))
    args = ap.parse_args(argv)
    folder = os.environ.get("MCSQUARE_DIR")
    path = os.path.join(folder or "", "Materials", "oxygen", "ICRU_Nuclear_inelastic.dat")
    if not folder or not os.path.exists(path):
        print("entrance_reference: SKIPPED: the ICRU 63 data come with MCsquare; set MCSQUARE_DIR "
              "(python benchmarks/vs_mcsquare.py --install-mcsquare DIR fetches it)")
        return 0
    blocks = read_icru63(path)
    rng = Ranges()
    mcsq = {}
    vs = os.path.join(HERE, "results", "vs_mcsquare.json")
    if os.path.exists(vs):
        wide = json.load(open(vs))["curves"]["wide_idd_MeV_cm2_g"]
        mcsq = {float(k): (v["mcs"][0], v["mcs_sem"][0], v["fmc"][0], v["fmc_sem"][0]) for k, v in wide.items()}
    rows = []
    print("excess of the first 1 mm layer's dose over S rho L, % (reference: ICRU 63 non-elastic by product,"
          " p-p elastic)")
    for T in args.energies:
        block = min(blocks, key=lambda b: abs(b["T"] - T))
        s_el = stopping(T - 0.5 * LAYER * stopping(T)) * LAYER
        parts = nonelastic_deposit(rng, block, T)
        parts["pp_elastic"] = pp_elastic_deposit(rng, T)
        ref = sum(parts.values()) / s_el
        d1, se = flashmc_first_layer(T, args.primaries)
        row = {"energy_MeV": T, "icru63_block_MeV": block["T"], "S_rho_L_MeV": s_el,
               "reference_parts_percent": {k: 100 * v / s_el for k, v in parts.items()},
               "reference_percent": 100 * ref, "flashmc_percent": 100 * (d1 / (s_el * 10) - 1),
               "flashmc_se_percent": 100 * se / (s_el * 10)}
        if T in mcsq:
            m, ms, f, fs = mcsq[T]
            idd = s_el * 10  # MeV cm^2/g
            row.update(vs_mcsquare_mcsquare_percent=100 * (m / idd - 1), vs_mcsquare_mcsquare_se_percent=100 * ms / idd,
                       vs_mcsquare_flashmc_percent=100 * (f / idd - 1), vs_mcsquare_flashmc_se_percent=100 * fs / idd)
        rows.append(row)
        extra = ""
        if "vs_mcsquare_mcsquare_percent" in row:
            extra = (f" | vs_mcsquare wide column: MCsquare {row['vs_mcsquare_mcsquare_percent']:+.2f} "
                     f"+- {row['vs_mcsquare_mcsquare_se_percent']:.2f}, "
                     f"flashmc {row['vs_mcsquare_flashmc_percent']:+.2f} "
                     f"+- {row['vs_mcsquare_flashmc_se_percent']:.2f}")
        print(f"{T:5.0f} MeV: reference {100 * ref:+.2f} ("
              + ", ".join(f"{k} {v:.2f}" for k, v in row["reference_parts_percent"].items())
              + f") | flashmc {row['flashmc_percent']:+.2f} +- {row['flashmc_se_percent']:.2f}" + extra)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"layer_mm": 10 * LAYER, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
