"""Named indices and sizes of the kernel's plain arrays (the magic integers, each once).

Energies in MeV, counts as float64.
"""

import math

# ---- energy-balance counters (float64 array of length N_COUNTERS; energies in MeV) --------
COUNTER_INCIDENT = 0  # kinetic energy of the source particles
COUNTER_DEPOSITED = 1  # all energy deposited in the grid
COUNTER_MISSED = 2  # primaries that miss the grid
COUNTER_ESCAPED = 3  # 3..8: charged particles leaving through faces -x, +x, -y, +y, -z, +z
COUNTER_CUTOFF = 9  # part of the deposit made by particles falling below the cut-off
COUNTER_NEUTRAL = 10  # neutrons and gamma rays from non-elastic reactions (leave the grid)
COUNTER_BINDING = 11  # nuclear binding energy absorbed in non-elastic reactions
COUNTER_HISTORIES = 12
COUNTER_STEPS = 13  # condensed-history steps
COUNTER_NONELASTIC = 14  # number of non-elastic reactions
COUNTER_PP_ELASTIC = 15  # number of p-p elastic collisions
COUNTER_PO_ELASTIC = 16  # number of p-16O elastic collisions
COUNTER_DEP_PRIMARY = 17  # part of the deposit made by primaries
COUNTER_DEP_SEC_PROTON = 18  # ... by secondary protons
COUNTER_DEP_SEC_OTHER = 19  # ... by other transported secondaries
COUNTER_DEP_LOCAL = 20  # ... on the spot: short-range fragments, nuclear recoils
COUNTER_NONELASTIC_ENERGY = 21  # kinetic energy of particles entering non-elastic reactions
COUNTER_NOT_TRANSPORTED = 22  # charged products deposited on the spot: stack or buffer full
COUNTER_NONELASTIC_PRIMARY = 23  # non-elastic reactions of primaries
COUNTER_NONELASTIC_PRIMARY_ENERGY = 24  # kinetic energy of primaries entering them
COUNTER_REJECTED = 25  # fictitious (rejected) discrete-interaction sites
COUNTER_SEGMENTS = 26  # voxel segments walked (a step crossing k boundaries has k + 1)
COUNTER_FORWARD = 27  # 27..30: particles leaving through +z within FORWARD_CONE_DEG of the z axis, per fragment
#                       group (physics.species.FRAGMENT_GROUPS: H, He, Li-Be-B, C)
N_COUNTERS = 31

# ---- faces of the grid, in the order of the escape counters --------------------------------
FACE_NAMES = ("-x", "+x", "-y", "+y", "-z", "+z")
FACE_PLUS_Z = 5
#: Half-angle of the forward cone of COUNTER_FORWARD [deg]: the acceptance within which the
#: fragment yields behind water of Haettner et al. (2013, Phys. Med. Biol. 58:8265) are compared.
FORWARD_CONE_DEG = 10.0
FORWARD_COS = math.cos(math.radians(FORWARD_CONE_DEG))
NO_FACE = -1  # (a particle inside the grid)

# ---- deposit classes: who made a deposit (the four parts of COUNTER_DEPOSITED) -------------
CLASS_PRIMARY = 0  # source particles until their first non-elastic reaction
CLASS_SECONDARY_PROTON = 1  # transported secondary protons
CLASS_SECONDARY_OTHER = 2  # other transported secondaries
CLASS_LOCAL = 3  # deposited on the spot: short-range fragments, nuclear recoils
N_CLASSES = 4

# ---- how the voxel walk of a step ended ---------------------------------------------------
WHY_ESCAPED = 0  # the particle left the grid
WHY_STEP_END = 1  # the planned end of the step
WHY_INTERACTION = 2  # the discrete-interaction site
WHY_HINGE = 3  # the multiple-scattering hinge (the walk turns and goes on)

# ---- LET accumulators (first axis of the LET tally) ----------------------------------------
# For all transported charged particles (k = 0..5) and for primaries only (LET_PRIMARY + k).
# L is the unrestricted electronic stopping power [keV/um] at the step's mean kinetic energy,
# in the voxel's medium (L_m) or in liquid water (L_w); eps the energy deposited [MeV], l the
# track length [cm].
LET_EPS = 0  # sum eps
LET_EPS_LM = 1  # sum eps L_m
LET_EPS_LW = 2  # sum eps L_w
LET_LEN = 3  # sum l
LET_LEN_LM = 4  # sum l L_m
LET_LEN_LW = 5  # sum l L_w
LET_PRIMARY = 6
N_LET = 12
# An ion run's LET tally has a block of the six sums per fragment group g instead of the
# primaries' block, at LET_BLOCK (1 + g), and one more sum: eps z1D* (the dose-weighted
# saturation-corrected specific energy of the MKM, physics.mkm; zero unless the run has the MKM).
LET_BLOCK = 6
LET_EPS_Z = 30  # sum eps z1D* [MeV Gy]
N_LET_ION = 31


def let_group_block(g):
    """First LET sum of fragment group ``g`` (physics.species.FRAGMENT_GROUPS) in an ion run."""
    return LET_BLOCK * (1 + g)

# ---- the particle stack (float64 rows) ----------------------------------------------------
STACK_MAX = 256  # depth (a full stack deposits further products on the spot)
STACK_X, STACK_Y, STACK_Z = 0, 1, 2  # position [cm]
STACK_U, STACK_V, STACK_W = 3, 4, 5  # unit direction
STACK_T = 6  # kinetic energy [MeV]
STACK_SPECIES = 7  # species index (physics.species)
STACK_COLUMNS = 8

# ---- products of one non-elastic reaction (float64 rows) ----------------------------------
MAX_PRODUCTS = 64  # transported products of one reaction (more: deposited on the spot)
MAX_FRAGMENTS = 12  # rows of the break-up scratch of an ion reaction (every nucleon free)
PRODUCT_SPECIES = 0
PRODUCT_T = 1  # kinetic energy [MeV]
PRODUCT_COS = 2  # cosine of the polar angle to the projectile's direction
PRODUCT_PHI = 3  # azimuth about it [rad] (ion reactions; the proton model draws it in the kernel)
PRODUCT_COLUMNS = 4

# ---- the primary's deepest voxel layer (primary fluence along z) ---------------------------
NOT_IN_GRID = -2  # the primary has not entered the grid yet
