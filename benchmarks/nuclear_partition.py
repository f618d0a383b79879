"""Bands of the non-elastic product model from the ICRU Report 63 energy partition of p + 16O.

    python benchmarks/nuclear_partition.py [--samples N]

The cascade of :func:`physics.nuclear.sample_nonelastic_products` (Fippel & Soukup 2004) draws
the kind of each emitted particle independently of its energy, so for a proton of energy T the
mean shares of T are

    f_p = P_p E_emit,  f_d = (P_d - P_p) E_emit,  f_neutral = (P_n - P_d) E_emit,
    f_fragment = (1 - P_n) E_emit,                                                          (1)

with E_emit = 1 - f_binding - f_residual the emitted share, which depends only on T, the binding
energies, E_min and the exponent p. Given the ICRU 63 shares at a band's representative energy,
(1) gives

    P_p = f_p / E_emit,   P_d = P_p + f_d / E_emit,   P_n = P_d + (f_rest - f_binding) / E_emit,  (2)

the shares from ICRU 63, f_rest the one not absorbed (neutrons, gamma rays, tritons, 3He and the
binding energy). The
exponent p sets the mean energy of an emitted particle; 0.90 gives ICRU 63's mean
secondary-proton energy (fitted energy by energy it is 0.80-0.96). The script estimates E_emit,
f_binding and f_residual by sampling the engine's own cascade (all particles counted as
protons), prints the solved P_p, P_d and P_n next to the bands in physics/nuclear.py (rounded to two
decimals there), and the shares of the engine's model against ICRU 63 at every tabulated energy.

ICRU 63 data: ICRU Report 63 (2000), p + 16O non-elastic: multiplicities and angle-integrated
energy spectra of p, d and alpha and the recoil energy fraction, as distributed with MCsquare
(``Materials/oxygen/ICRU_Nuclear_inelastic.dat``; github e0404/MCsquare @ 4359baaf, the same
file in the opentps-core 2.0.0 wheel). The shares below are multiplicity x mean spectrum energy
/ T, the mean energy taken the way MCsquare samples the spectra. The file has no neutron,
triton or 3He data: their energy is in f_rest, as it is lost in MCsquare.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mc.batch import batch_seed  # noqa: E402
from physics import nuclear  # noqa: E402
from physics.species import SPECIES_PROTON  # noqa: E402

#: T [MeV]: (f_p, f_d, f_local = alphas + recoils, f_rest, mean secondary-proton energy [MeV]), ICRU
#: Report 63 p + 16O as described in the module docstring.
ICRU63_O16 = {
    30: (0.337, 0.039, 0.177, 0.447, 10.0), 40: (0.355, 0.057, 0.151, 0.437, 12.9),
    50: (0.376, 0.070, 0.127, 0.427, 15.5), 60: (0.376, 0.077, 0.116, 0.431, 17.1),
    70: (0.395, 0.082, 0.105, 0.417, 19.4), 80: (0.399, 0.086, 0.097, 0.417, 21.0),
    90: (0.411, 0.090, 0.095, 0.404, 23.0), 100: (0.418, 0.092, 0.091, 0.400, 24.7),
    120: (0.442, 0.097, 0.079, 0.381, 29.2), 150: (0.455, 0.097, 0.070, 0.377, 34.4),
    180: (0.469, 0.096, 0.063, 0.371, 39.9), 200: (0.475, 0.100, 0.060, 0.365, 43.9),
    220: (0.487, 0.097, 0.058, 0.359, 47.5), 250: (0.507, 0.092, 0.053, 0.348, 54.3)
}

#: Representative energy of each band of physics.nuclear._BANDS.
BAND_ENERGIES = (30, 50, 70, 100, 150, 200, 250)


def model_shares(T, par, n, seed=1):
    """Mean shares of T [MeV] over n reactions of the cascade with parameter vector ``par``:
    dict with protons, deuterons, neutral, binding, local (fragments + residual), mean proton
    energy."""
    sample = nuclear.sample_nonelastic_products
    st = np.array(batch_seed(seed, 0), np.uint64)
    prod = np.zeros((64, 3))
    tot = np.zeros(5)
    n_p = 0
    for _ in range(n):
        k, e_loc, e_neu, e_bind, _ovf = sample(st, T, par, prod)
        is_p = prod[:k, 0] == SPECIES_PROTON
        e_p = prod[:k, 1][is_p].sum()
        tot += (e_p, prod[:k, 1][~is_p].sum(), e_neu, e_bind, e_loc)
        n_p += int(is_p.sum())
    f = tot / (n * T)
    return {"protons": f[0], "deuterons": f[1], "neutral": f[2], "binding": f[3], "local": f[4],
            "mean_proton_MeV": tot[0] / max(n_p, 1)}


def params_with_band(band):
    """The engine's parameter vector with one band (P_p, P_d, P_n, exponent) covering every
    energy."""
    p = nuclear.product_model_parameters()
    head = p[:nuclear.NP_BAND0].copy()
    head[nuclear.NP_N_BANDS] = 1.0
    return np.concatenate([head, [1.0e9, *band]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100000, help="reactions per energy (default 1e5)")
    args = ap.parse_args(argv)
    print("band energy   E_emit  binding  P_p, P_d, P_n solved / in use")
    bands = nuclear._BANDS
    for T, band in zip(BAND_ENERGIES, bands):
        f_p, f_d, _f_loc, f_rest, _ = ICRU63_O16[T]
        allp = model_shares(float(T), params_with_band((1.0, 1.0, 1.0, band[4])), args.samples)
        e_emit = allp["protons"]
        p_p = f_p / e_emit
        p_d = p_p + f_d / e_emit
        p_n = p_d + (f_rest - allp["binding"]) / e_emit
        print(f"{T:8d} MeV  {e_emit:6.3f}  {allp['binding']:7.3f}  {p_p:.3f} {p_d:.3f} {p_n:.3f} / "
              f"{band[1]:.2f} {band[2]:.2f} {band[3]:.2f}")
    print("\n  T  | protons: model ICRU | deuterons: model ICRU | not absorbed (neutral + binding): model ICRU"
          " | local: model ICRU | mean proton energy [MeV]: model ICRU")
    par = nuclear.product_model_parameters()
    worst = 0.0
    for T, (f_p, f_d, f_loc, f_rest, e_p) in ICRU63_O16.items():
        m = model_shares(float(T), par, args.samples)
        lost = m["neutral"] + m["binding"]
        worst = max(worst, abs(m["protons"] - f_p), abs(m["deuterons"] - f_d), abs(lost - f_rest),
                    abs(m["local"] - f_loc))
        print(f"{T:4d} | {m['protons']:.3f} {f_p:.3f} | {m['deuterons']:.3f} {f_d:.3f} | {lost:.3f} {f_rest:.3f}"
              f" | {m['local']:.3f} {f_loc:.3f} | {m['mean_proton_MeV']:5.1f} {e_p:5.1f}")
    print(f"largest difference of a share: {worst:.3f} of T")


if __name__ == "__main__":
    main()
