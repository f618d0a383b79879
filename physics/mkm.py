"""Modified microdosimetric kinetic model (MKM) of ion-beam cell survival and RBE.

The modified MKM of Inaniwa et al. (2010, Phys. Med. Biol. 55:6721, "Treatment planning for a
scanned carbon beam with a modified microdosimetric kinetic model"), which builds on the
amorphous-track MKM of Kase et al. (2006, Radiat. Res. 166:629; 2008, Phys. Med. Biol. 53:37).
Pure numpy. Units: lengths in um, doses and specific energies in Gy, LET in keV/um (unrestricted
electronic LET in water), kinetic energy per nucleon E in MeV/u, alpha in Gy^-1, beta in Gy^-2.
Water density rho = 1 g/cm^3, so that 1 keV/um deposited over 1 um^2 is 0.1602 Gy
(:data:`GY_UM2_PER_KEV_UM`).

Equations (numbered M1-M14 here, with the source of each named beside it; the equation numbers
of the papers themselves are not quoted because their text was not at hand to check them)
-----------------------------------------------------------------
Ion velocity (special relativity, energy per nucleon with the atomic mass unit u c^2):

    (M1)  beta = sqrt(1 - 1/(1 + E/(u c^2))^2).

Effective charge of the ion in the track (Barkas 1963, *Nuclear Research Emulsions*, vol. I;
used by Kase et al. 2008 and Inaniwa et al. 2010 for the track structure):

    (M2)  z* = Z (1 - exp(-125 beta Z^(-2/3))).

Amorphous track structure of Kiefer & Straaten (1986, Phys. Med. Biol. 31:1201) and Chatterjee &
Schaefer (1976, Radiat. Environ. Biophys. 13:215), as used by Kase et al. 2008 and Inaniwa et al.
2010: a core of radius R_c with uniform dose and a penumbra out to R_p with a 1/r^2 dose,

    (M3)  R_c = 0.0116 beta  [um]                      (Kiefer & Straaten 1986)
    (M4)  R_p = 0.0616 (E/u)^1.7  [um], E/u in MeV/u    (Kiefer & Straaten 1986)
    (M5)  D_p(r) = K_p / r^2,  K_p = 1.25e-4 (z*/beta)^2  [Gy um^2],  R_c <= r <= R_p
    (M6)  D_c = [LET/rho - 2 pi K_p ln(R_p/R_c)] / (pi R_c^2),  r < R_c,

where (M6) makes the radial integral of the dose equal the LET (energy conservation; Kase et al.
2008). R_p is taken as at least R_c (below ~0.02 MeV/u (M4) would fall inside the core).

Specific energy of a domain: a cylindrical domain of radius r_d with its axis along the ion path
(Kase et al. 2008), traversed at impact parameter b from its axis, receives the mean track dose
over its cross-section,

    (M7)  z(b) = (1/(pi r_d^2)) int_domain D(|x - b|) dA
               = (1/(pi r_d^2)) int_0^inf D(r) 2 r theta(r; b) dr,

theta(r; b) being the half-angle of the arc of radius r about the track that lies inside the
domain (pi where the whole circle is inside, arccos((r^2 + b^2 - r_d^2)/(2 r b)) where it
crosses the domain edge). Integrating (M7) over the plane gives int z(b) 2 pi b db = LET/rho.

Saturation (over-kill) correction of Kase et al. 2008 and Inaniwa et al. 2010, after Hawkins
(2003, Radiat. Res. 160:61), applied to each event:

    (M8)  z'(b) = z0 sqrt(1 - exp(-(z(b)/z0)^2)),
    (M9)  z0 = (R_n/r_d)^2 / sqrt(beta0 (1 + (R_n/r_d)^2))  [Gy],  R_n the nucleus radius.

Saturation-corrected dose-mean specific energy per event of a mono-energetic ion (Inaniwa et al.
2010; Kase et al. 2008), and its uncorrected counterpart z1D (z' -> z):

    (M10) z1D* = int z'(b)^2 2 pi b db / int z(b) 2 pi b db.

For z << z0, z'^2 = z^2 (1 - z^2/(2 z0^2) + ...) and z1D* -> z1D.

Mixed field (Inaniwa et al. 2010, mixed-beam MKM; Kase et al. 2006): the dose-mean over the
species/energy bins i with absorbed doses d_i,

    (M11) z1D*_mix = sum_i d_i z1D*_i / sum_i d_i.

Survival and RBE (MKM, Hawkins 1996 Int. J. Radiat. Biol. 69:739; Inaniwa et al. 2010):

    (M12) alpha = alpha0 + beta0 z1D*_mix,   beta = beta0 (fixed),
    (M13) S(D) = exp(-alpha D - beta D^2).

The RBE at physical dose D per fraction is D_x/D, D_x the X-ray dose of equal effect,

    (M14) alpha_x D_x + beta_x D_x^2 = alpha D + beta D^2
          => D_x = [sqrt(alpha_x^2 + 4 beta_x (alpha D + beta D^2)) - alpha_x] / (2 beta_x),

(low-dose limit alpha/alpha_x) and RBE10 = D10_x/D10 with D10 the dose of 10 % survival,
alpha D10 + beta D10^2 = ln 10.

Cell parameters: HSG (human salivary gland tumour cells) of Inaniwa et al. 2010: alpha0 = 0.172
Gy^-1, beta0 = 0.0615 Gy^-2, r_d = 0.32 um, R_n = 3.9 um (z0 = 48.98 Gy). The HSG X-ray
reference alpha_x = 0.313 Gy^-1, beta_x = 0.0615 Gy^-2 is the HSG photon LQ fit used with these
cells in the literature (Friedrich et al. 2013, J. Radiat. Res. 54:494, Fig. 8 caption; Geant4
hadrontherapy data/rbe/lem1.csv, HSG rows); it was not checked against the text of Inaniwa 2010.
Other cell lines: build a :class:`MKMCell` with their own values.

Two evaluation paths: :func:`zstar_direct` integrates (M7)-(M10) for one ion (Gauss-Legendre
panels in b, a cosine-mapped Gauss-Legendre rule in r for the arcs, closed forms for the core
overlap and the inner annulus); :func:`build_zstar_table` tabulates it on a log-uniform energy
grid per Z with the LET of the caller's stopping table, and :meth:`ZStarTable.lookup` interpolates
it, vectorised over arrays of (Z, E) bins, for per-voxel use on tallies.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .constants import AMU_MEV, J_PER_MEV

#: Dose x area per unit LET in water, rho = 1 g/cm^3: 1 keV/um over 1 um^2 -> Gy
#: (1e-3 MeV x 1.602176634e-13 J/MeV per (1e-12 m^2 x 1e-6 m x 1000 kg/m^3)) [Gy um^2 per keV/um].
GY_UM2_PER_KEV_UM = 1.0e-3 * J_PER_MEV / 1.0e-15
#: Core-radius coefficient of (M3), R_c = 0.0116 beta [um] (Kiefer & Straaten 1986).
CORE_RADIUS_UM = 0.0116
#: Penumbra-radius coefficient and exponent of (M4), R_p = 0.0616 (E/u)^1.7 [um], E in MeV/u
#: (Kiefer & Straaten 1986).
PENUMBRA_RADIUS_UM = 0.0616
PENUMBRA_EXPONENT = 1.7
#: Penumbra dose constant of (M5), K_p = 1.25e-4 (z*/beta)^2 [Gy um^2] (Kiefer & Straaten 1986;
#: Chatterjee & Schaefer 1976).
PENUMBRA_KP_GY_UM2 = 1.25e-4
#: Barkas effective-charge constant of (M2) (Barkas 1963).
BARKAS_CONSTANT = 125.0
#: ln 10: the effect alpha D + beta D^2 at 10 % survival.
LN10 = np.log(10.0)

# Quadrature orders (checked by doubling in tests/test_mkm.py).
_N_B = 16          # Gauss-Legendre nodes per impact-parameter panel
_N_R = 24          # Gauss-Legendre nodes of the cosine-mapped arc integral in r
_PANELS_PER_DECADE = 8


@dataclass(frozen=True)
class MKMCell:
    """Cell-line parameters of the modified MKM and its X-ray reference.

    alpha0_per_Gy, beta0_per_Gy2: alpha0 and beta0 of (M12); domain_radius_um r_d and
    nucleus_radius_um R_n of (M7), (M9); alpha_x_per_Gy, beta_x_per_Gy2: the X-ray LQ
    parameters of (M14)."""

    name: str
    alpha0_per_Gy: float
    beta0_per_Gy2: float
    domain_radius_um: float
    nucleus_radius_um: float
    alpha_x_per_Gy: float
    beta_x_per_Gy2: float

    def __post_init__(self):
        for field in ("beta0_per_Gy2", "domain_radius_um", "nucleus_radius_um", "alpha_x_per_Gy",
                      "beta_x_per_Gy2"):
            v = getattr(self, field)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"MKMCell {self.name}: {field} must be positive and finite, got {v}")
        if not np.isfinite(self.alpha0_per_Gy):
            raise ValueError(f"MKMCell {self.name}: alpha0_per_Gy must be finite")

    @property
    def z0_Gy(self):
        """Saturation parameter z0 [Gy] of (M9)."""
        return saturation_parameter_Gy(self.domain_radius_um, self.nucleus_radius_um, self.beta0_per_Gy2)


#: HSG cells, modified MKM parameters of Inaniwa et al. 2010 (alpha0 = 0.172 Gy^-1, beta0 = 0.0615
#: Gy^-2, r_d = 0.32 um, R_n = 3.9 um); X-ray reference alpha_x = 0.313 Gy^-1, beta_x = 0.0615
#: Gy^-2 (Friedrich et al. 2013, J. Radiat. Res. 54:494, Fig. 8; Geant4 hadrontherapy lem1.csv).
HSG = MKMCell("HSG", alpha0_per_Gy=0.172, beta0_per_Gy2=0.0615, domain_radius_um=0.32,
              nucleus_radius_um=3.9, alpha_x_per_Gy=0.313, beta_x_per_Gy2=0.0615)


# ----------------------------------------------------------------------------- track structure

def ion_beta(E_MeV_u):
    """Velocity beta = v/c of an ion of kinetic energy ``E_MeV_u`` per nucleon (M1)."""
    g = 1.0 + np.asarray(E_MeV_u, dtype=float) / AMU_MEV
    return np.sqrt(1.0 - 1.0 / (g * g))


def effective_charge(Z, beta):
    """Barkas effective charge z* = Z (1 - exp(-125 beta Z^(-2/3))) (M2)."""
    Z = np.asarray(Z, dtype=float)
    return Z * (1.0 - np.exp(-BARKAS_CONSTANT * np.asarray(beta, dtype=float) * Z ** (-2.0 / 3.0)))


def core_radius_um(beta):
    """Track-core radius R_c = 0.0116 beta [um] (M3)."""
    return CORE_RADIUS_UM * np.asarray(beta, dtype=float)


def penumbra_radius_um(E_MeV_u):
    """Track-penumbra radius R_p = 0.0616 (E/u)^1.7 [um], E/u in MeV/u (M4), not below R_c."""
    E = np.asarray(E_MeV_u, dtype=float)
    return np.maximum(PENUMBRA_RADIUS_UM * E ** PENUMBRA_EXPONENT, core_radius_um(ion_beta(E)))


def penumbra_constant_Gy_um2(Z, beta):
    """K_p = 1.25e-4 (z*/beta)^2 [Gy um^2] of the penumbra dose K_p/r^2 (M5)."""
    b = np.asarray(beta, dtype=float)
    return PENUMBRA_KP_GY_UM2 * (effective_charge(Z, b) / b) ** 2


def _track(Z, E_MeV_u, let_keV_um):
    """(R_c, R_p, K_p, D_c) of the track (M3)-(M6), scalars."""
    beta = float(ion_beta(E_MeV_u))
    Rc = float(core_radius_um(beta))
    Rp = float(penumbra_radius_um(E_MeV_u))
    Kp = float(penumbra_constant_Gy_um2(Z, beta))
    Dc = (GY_UM2_PER_KEV_UM * let_keV_um - 2.0 * np.pi * Kp * np.log(Rp / Rc)) / (np.pi * Rc * Rc)
    return Rc, Rp, Kp, Dc


def track_dose_Gy(r_um, Z, E_MeV_u, let_keV_um):
    """Local dose D(r) [Gy] at radius ``r_um`` from the path of an ion (Z, E/u) of LET
    ``let_keV_um``: core (M6) inside R_c, penumbra K_p/r^2 (M5) to R_p, zero beyond."""
    Rc, Rp, Kp, Dc = _track(Z, E_MeV_u, let_keV_um)
    r = np.asarray(r_um, dtype=float)
    rs = np.maximum(r, Rc)
    return np.where(r < Rc, Dc, np.where(r <= Rp, Kp / (rs * rs), 0.0))


# ------------------------------------------------------------------- specific energy of a domain

def _circle_overlap_area(d, a, c):
    """Area of the intersection of circles of radii a and c whose centres are d apart."""
    d = np.asarray(d, dtype=float)
    out = np.zeros_like(d)
    inner = d <= abs(a - c)
    out[inner] = np.pi * min(a, c) ** 2
    part = (~inner) & (d < a + c)
    dp = d[part]
    ca = np.clip((dp * dp + a * a - c * c) / (2.0 * dp * a), -1.0, 1.0)
    cc = np.clip((dp * dp + c * c - a * a) / (2.0 * dp * c), -1.0, 1.0)
    k = np.sqrt(np.maximum((-dp + a + c) * (dp + a - c) * (dp - a + c) * (dp + a + c), 0.0))
    out[part] = a * a * np.arccos(ca) + c * c * np.arccos(cc) - 0.5 * k
    return out


@lru_cache(maxsize=8)
def _gauss_legendre(n):
    """n-point Gauss-Legendre nodes and weights on [-1, 1]."""
    return np.polynomial.legendre.leggauss(n)


def _arc_rule(n):
    """n-point Gauss-Legendre nodes and weights on phi in [0, pi]."""
    x, w = _gauss_legendre(n)
    return 0.5 * np.pi * (x + 1.0), 0.5 * np.pi * w


def domain_specific_energy_Gy(b_um, Z, E_MeV_u, let_keV_um, domain_radius_um, n_r=_N_R):
    """Specific energy z(b) [Gy] of a cylindrical domain of radius r_d traversed at impact
    parameters ``b_um`` by one ion (Z, E/u, LET) (M7).

    Pieces of (M7): the core, uniform dose D_c over the overlap of the core and domain discs; the
    penumbra annulus R_c < r < r_d - b wholly inside the domain, 2 pi K_p ln((r_d - b)/R_c); and
    the arcs crossing the domain edge, |r_d - b| < r < r_d + b, 2 K_p int theta(r)/r dr by
    Gauss-Legendre in phi with r = lo + (hi - lo)(1 - cos phi)/2 (removes the square-root ends of
    theta); ``n_r`` nodes."""
    rd = float(domain_radius_um)
    Rc, Rp, Kp, Dc = _track(Z, E_MeV_u, let_keV_um)
    b = np.atleast_1d(np.asarray(b_um, dtype=float))
    core = Dc * _circle_overlap_area(b, Rc, rd)
    r_in = np.clip(rd - b, Rc, Rp)
    annulus = 2.0 * np.pi * Kp * np.log(r_in / Rc)
    lo = np.maximum(np.abs(rd - b), Rc)
    hi = np.minimum(rd + b, Rp)
    arcs = np.zeros_like(b)
    m = (hi > lo) & (b > 0)
    if np.any(m):
        lo_m, hi_m, b_m = lo[m, None], hi[m, None], b[m, None]
        phi, w_phi = _arc_rule(n_r)
        half = 0.5 * (hi_m - lo_m)
        r = lo_m + half * (1.0 - np.cos(phi))
        theta = np.arccos(np.clip((r * r + b_m * b_m - rd * rd) / (2.0 * r * b_m), -1.0, 1.0))
        arcs[m] = 2.0 * Kp * np.sum(w_phi * theta / r * half * np.sin(phi), axis=1)
    return (core + annulus + arcs) / (np.pi * rd * rd)


def saturation_parameter_Gy(domain_radius_um, nucleus_radius_um, beta0_per_Gy2):
    """Saturation parameter z0 = (R_n/r_d)^2 / sqrt(beta0 (1 + (R_n/r_d)^2)) [Gy] (M9)."""
    q = (float(nucleus_radius_um) / float(domain_radius_um)) ** 2
    return q / np.sqrt(float(beta0_per_Gy2) * (1.0 + q))


def saturation_corrected(z_Gy, z0_Gy):
    """Saturation-corrected specific energy z' = z0 sqrt(1 - exp(-(z/z0)^2)) [Gy] (M8)."""
    z = np.asarray(z_Gy, dtype=float)
    return z0_Gy * np.sqrt(-np.expm1(-(z / z0_Gy) ** 2))


def _impact_parameter_nodes(Rc, Rp, rd, refine=1):
    """Gauss-Legendre nodes and weights in b on [0, r_d + R_p]: panels broken at the kinks of
    z(b) (|r_d - R_c|, r_d + R_c, |R_p - r_d|, R_p + r_d) and subdivided geometrically,
    ``refine`` times the default panels per decade and nodes per panel."""
    brk = np.unique(np.array([0.0, abs(rd - Rc), rd + Rc, abs(Rp - rd), Rp + rd]))
    edges = [brk[0]]
    for a, c in zip(brk[:-1], brk[1:]):
        if c <= a:
            continue
        if a <= 0.0:
            edges.append(c)
            continue
        n = max(1, int(np.ceil(refine * _PANELS_PER_DECADE * np.log10(c / a))))
        edges.extend(np.geomspace(a, c, n + 1)[1:])
    edges = np.asarray(edges)
    lo, hi = edges[:-1, None], edges[1:, None]
    x, w = _gauss_legendre(refine * _N_B)
    nodes = (0.5 * (hi - lo) * (x + 1.0) + lo).ravel()
    weights = (0.5 * (hi - lo) * w).ravel()
    return nodes, weights


def zstar_direct(Z, E_MeV_u, let_keV_um, cell=HSG, saturate=True, refine=1):
    """Dose-mean specific energy per event [Gy] of a mono-energetic ion (Z, E/u) of LET
    ``let_keV_um`` [keV/um] in the domains of ``cell``: z1D* of (M10) with the saturation
    correction (M8)-(M9), or z1D (``saturate=False``). Direct quadrature of (M7) and (M10);
    ``refine`` multiplies the panels and nodes (a convergence check)."""
    if not (E_MeV_u > 0 and let_keV_um > 0 and Z >= 1):
        raise ValueError(f"need Z >= 1, E > 0 MeV/u and LET > 0 keV/um, got {Z}, {E_MeV_u}, {let_keV_um}")
    rd = cell.domain_radius_um
    Rc, Rp, _, _ = _track(Z, E_MeV_u, let_keV_um)
    b, w = _impact_parameter_nodes(Rc, Rp, rd, refine)
    z = domain_specific_energy_Gy(b, Z, E_MeV_u, let_keV_um, rd, refine * _N_R)
    zn = saturation_corrected(z, cell.z0_Gy) if saturate else z
    return float(np.sum(w * b * zn * zn) / np.sum(w * b * z))


def impact_integral_Gy_um2(Z, E_MeV_u, let_keV_um, domain_radius_um):
    """int z(b) 2 pi b db [Gy um^2] by the quadrature of :func:`zstar_direct`; equals LET/rho
    = 0.1602 LET (the identity under (M7)), a check of the quadrature."""
    Rc, Rp, _, _ = _track(Z, E_MeV_u, let_keV_um)
    b, w = _impact_parameter_nodes(Rc, Rp, float(domain_radius_um))
    z = domain_specific_energy_Gy(b, Z, E_MeV_u, let_keV_um, domain_radius_um)
    return float(2.0 * np.pi * np.sum(w * b * z))


# ------------------------------------------------------------------------ tabulated fast path

@dataclass(frozen=True)
class ZStarTable:
    """z1D* [Gy] tabulated on a log-uniform grid of E [MeV/u] for a set of charges Z.

    ``charges`` (nZ,) int, ``log_E0`` ln of the first energy, ``dlog_E`` the ln step,
    ``zstar`` (nZ, nE) [Gy], ``cell`` the parameters it was built for."""

    charges: np.ndarray
    log_E0: float
    dlog_E: float
    zstar: np.ndarray
    cell: MKMCell

    @property
    def energies_MeV_u(self):
        return np.exp(self.log_E0 + self.dlog_E * np.arange(self.zstar.shape[1]))

    def lookup(self, Z, E_MeV_u):
        """z1D* [Gy] at arrays ``Z`` and ``E_MeV_u`` (broadcast): linear interpolation in ln E,
        clamped to the table's energy range. Raises if a charge is not tabulated."""
        Z, E = np.broadcast_arrays(np.asarray(Z), np.asarray(E_MeV_u, dtype=float))
        row = np.searchsorted(self.charges, Z)
        row_c = np.minimum(row, len(self.charges) - 1)
        if np.any(self.charges[row_c] != Z):
            raise ValueError(f"charges {np.unique(Z[self.charges[row_c] != Z])} not in the table "
                             f"{self.charges.tolist()}")
        nE = self.zstar.shape[1]
        x = np.clip((np.log(np.maximum(E, 1e-300)) - self.log_E0) / self.dlog_E, 0.0, nE - 1.0)
        i = np.minimum(x.astype(np.int64), nE - 2)
        f = x - i
        return (1.0 - f) * self.zstar[row_c, i] + f * self.zstar[row_c, i + 1]


def energy_grid_MeV_u(E_min_MeV_u=0.1, E_max_MeV_u=1000.0, points_per_decade=40):
    """Log-uniform energy grid [MeV/u] for :func:`build_zstar_table`."""
    n = int(round(points_per_decade * np.log10(E_max_MeV_u / E_min_MeV_u))) + 1
    return np.geomspace(E_min_MeV_u, E_max_MeV_u, n)


def build_zstar_table(charges, energies_MeV_u, let_keV_um, cell=HSG):
    """Tabulate z1D* (M10) for each charge in ``charges`` at the log-uniform ``energies_MeV_u``
    (e.g. :func:`energy_grid_MeV_u`); ``let_keV_um`` (nZ, nE) is the LET of each ion at each
    energy, from the caller's stopping tables."""
    charges = np.asarray(charges, dtype=np.int64)
    E = np.asarray(energies_MeV_u, dtype=float)
    L = np.asarray(let_keV_um, dtype=float)
    if L.shape != (len(charges), len(E)):
        raise ValueError(f"let_keV_um must have shape {(len(charges), len(E))}, got {L.shape}")
    dl = np.diff(np.log(E))
    if len(E) < 2 or not np.allclose(dl, dl[0], rtol=1e-6, atol=0.0) or dl[0] <= 0:
        raise ValueError("energies_MeV_u must be log-uniform and increasing (see energy_grid_MeV_u)")
    if np.any(np.diff(charges) <= 0):
        raise ValueError("charges must be increasing and distinct")
    zs = np.array([[zstar_direct(int(Z), e, let, cell) for e, let in zip(E, row)] for Z, row in zip(charges, L)])
    return ZStarTable(charges=charges, log_E0=float(np.log(E[0])), dlog_E=float(dl[0]), zstar=zs, cell=cell)


# --------------------------------------------------------------------- mixed field, survival, RBE

def zstar_mix(dose_Gy, zstar_Gy, axis=-1):
    """Dose-weighted z1D*_mix = sum_i d_i z1D*_i / sum_i d_i [Gy] over the bins along ``axis``
    (M11); 0 where the summed dose is 0."""
    d = np.asarray(dose_Gy, dtype=float)
    z = np.asarray(zstar_Gy, dtype=float)
    if np.any(d < 0):
        raise ValueError("bin doses must be non-negative")
    num = np.sum(d * z, axis=axis)
    den = np.sum(d * np.ones_like(z), axis=axis)
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def alpha_beta(zstar_mix_Gy, cell=HSG):
    """(alpha [Gy^-1], beta [Gy^-2]) of (M12): alpha0 + beta0 z1D*_mix, beta0."""
    z = np.asarray(zstar_mix_Gy, dtype=float)
    return cell.alpha0_per_Gy + cell.beta0_per_Gy2 * z, np.full(z.shape, cell.beta0_per_Gy2)


def survival(dose_Gy, alpha_per_Gy, beta_per_Gy2):
    """Surviving fraction S = exp(-alpha D - beta D^2) (M13)."""
    D = np.asarray(dose_Gy, dtype=float)
    return np.exp(-np.asarray(alpha_per_Gy) * D - np.asarray(beta_per_Gy2) * D * D)


def dose_for_effect(effect, alpha_per_Gy, beta_per_Gy2):
    """Dose [Gy] with alpha D + beta D^2 = ``effect`` (= -ln S), beta > 0."""
    a = np.asarray(alpha_per_Gy, dtype=float)
    b = np.asarray(beta_per_Gy2, dtype=float)
    e = np.asarray(effect, dtype=float)
    return 2.0 * e / (a + np.sqrt(a * a + 4.0 * b * e))


def d10_Gy(alpha_per_Gy, beta_per_Gy2):
    """Dose of 10 % survival [Gy]: alpha D10 + beta D10^2 = ln 10."""
    return dose_for_effect(LN10, alpha_per_Gy, beta_per_Gy2)


def rbe(dose_Gy, zstar_mix_Gy, cell=HSG):
    """RBE = D_x/D at physical dose per fraction ``dose_Gy`` [Gy] (M14); alpha/alpha_x where the
    dose is zero (the low-dose limit)."""
    a, b = alpha_beta(zstar_mix_Gy, cell)
    D = np.asarray(dose_Gy, dtype=float)
    a, b, D = np.broadcast_arrays(a, b, D)
    out = np.array(a / cell.alpha_x_per_Gy, dtype=float)
    pos = D > 0
    Dx = dose_for_effect(a[pos] * D[pos] + b[pos] * D[pos] ** 2, cell.alpha_x_per_Gy, cell.beta_x_per_Gy2)
    out[pos] = Dx / D[pos]
    return out


def rbe10(zstar_mix_Gy, cell=HSG):
    """RBE at 10 % survival, D10_x / D10 (M14)."""
    a, b = alpha_beta(zstar_mix_Gy, cell)
    return d10_Gy(cell.alpha_x_per_Gy, cell.beta_x_per_Gy2) / d10_Gy(a, b)
