"""Energy balance of a run: the kernel's energy counters (``mc.kernel.layout.COUNTER_*``; energies
in MeV and event counts, summed over all simulated primaries) as named entries, with the two
bookkeeping checks (see :func:`energy_balance`). The names are those of the HDF5 output's
``/energy_balance`` attributes.
"""

from .kernel import layout as tr
from physics.species import FRAGMENT_GROUPS

from .kernel.layout import FACE_NAMES


def energy_balance(counters):
    """Energy bookkeeping [MeV, summed over all simulated primaries] from the kernel counters.

    ``relative_imbalance`` = (incident - deposited - missed - escaped - neutral - binding) /
    incident;
    ``deposit_split_imbalance`` = (deposited - the sum of its parts by particle class) /
    incident. ``forward_<group>_count``: charged particles of each fragment group leaving
    through +z within ``mc.kernel.layout.FORWARD_CONE_DEG`` of the z axis. Both imbalances
    are rounding-level when the bookkeeping is right."""
    c = counters
    eb = {
        "incident_MeV": c[tr.COUNTER_INCIDENT],
        "deposited_MeV": c[tr.COUNTER_DEPOSITED],
        "missed_MeV": c[tr.COUNTER_MISSED],
        "neutral_MeV": c[tr.COUNTER_NEUTRAL],
        "binding_MeV": c[tr.COUNTER_BINDING],
        "cutoff_MeV": c[tr.COUNTER_CUTOFF],
        "deposited_primary_MeV": c[tr.COUNTER_DEP_PRIMARY],
        "deposited_secondary_proton_MeV": c[tr.COUNTER_DEP_SEC_PROTON],
        "deposited_secondary_other_MeV": c[tr.COUNTER_DEP_SEC_OTHER],
        "deposited_local_fragments_MeV": c[tr.COUNTER_DEP_LOCAL],
        "histories": c[tr.COUNTER_HISTORIES],
        "nonelastic_events": c[tr.COUNTER_NONELASTIC],
        "nonelastic_energy_MeV": c[tr.COUNTER_NONELASTIC_ENERGY],
        "pp_elastic_events": c[tr.COUNTER_PP_ELASTIC],
        "po_elastic_events": c[tr.COUNTER_PO_ELASTIC],
        "primary_nonelastic_events": c[tr.COUNTER_NONELASTIC_PRIMARY],
        "primary_nonelastic_energy_MeV": c[tr.COUNTER_NONELASTIC_PRIMARY_ENERGY],
        "not_transported_MeV": c[tr.COUNTER_NOT_TRANSPORTED],
        "rejected_interaction_sites": c[tr.COUNTER_REJECTED],
    }
    for g, name in enumerate(FRAGMENT_GROUPS):
        eb[f"forward_{name}_count"] = c[tr.COUNTER_FORWARD + g]
    esc = 0.0
    for i, name in enumerate(FACE_NAMES):
        eb[f"escaped_{name}_MeV"] = c[tr.COUNTER_ESCAPED + i]
        esc += c[tr.COUNTER_ESCAPED + i]
    eb["escaped_MeV"] = esc
    inc = eb["incident_MeV"]
    out = eb["deposited_MeV"] + eb["missed_MeV"] + esc + eb["neutral_MeV"] + eb["binding_MeV"]
    parts = (eb["deposited_primary_MeV"] + eb["deposited_secondary_proton_MeV"]
             + eb["deposited_secondary_other_MeV"] + eb["deposited_local_fragments_MeV"])
    eb["relative_imbalance"] = (inc - out) / inc if inc else 0.0
    eb["deposit_split_imbalance"] = (eb["deposited_MeV"] - parts) / inc if inc else 0.0
    return eb
