"""DICOM RT Ion Plan: pencil-beam-scanning proton beams, their geometry and their spots.

Read (:func:`read_rt_ion_plan`) and written (:func:`write_rt_ion_plan`, for phantoms and tests)
with pydicom. The attributes are those of the RT Ion Beams Module (DICOM PS3.3 C.8.8.25) and the
RT Fraction Scheme Module (C.8.8.13):

* a beam (IonBeamSequence (300A,03A2)) of ScanMode (300A,0308) MODULATED is delivered as energy
  layers: each control point (IonControlPointSequence (300A,03A8)) with non-zero
  ScanSpotMetersetWeights (300A,0396) holds the spots of its NominalBeamEnergy (300A,0114) [MeV]:
  ScanSpotPositionMap (300A,0394), pairs (X, Y) [mm] projected onto the isocentre plane in the
  IEC GANTRY coordinate system (as MCsquare reads them; a non-zero BeamLimitingDeviceAngle
  (300A,0120), which would make the frame ambiguous, is refused), and ScanSpotTuneID (300A,0390);
* the meterset of a spot is BeamMeterset (300A,0086) (ReferencedBeamSequence of the fraction
  group) x its weight / FinalCumulativeMetersetWeight (300A,010E), in the beam's
  PrimaryDosimeterUnit (300A,00B3): MU, or NP (number of particles); the plan's dose is that of
  NumberOfFractionsPlanned (300A,0078) fractions of it; one fraction group;
* refused: passive scattering, uniform scanning, arcs and any other change of the geometry between
  control points, couch pitch, roll and eccentric rotation, gantry pitch, beam modifiers other
  than a range shifter, a range shifter whose setting changes between layers, other ions;
* the geometry of a beam is in its first control point: GantryAngle (300A,011E),
  PatientSupportAngle (300A,0122), BeamLimitingDeviceAngle (300A,0120), IsocenterPosition
  (300A,012C) [mm, patient coordinates], SnoutPosition (300A,030D) [mm].

Coordinate systems (IEC 61217, the standard DICOM RT refers to): the fixed system f has its
origin at the isocentre, X_f to the right of an observer at the foot of the couch facing the
gantry, Y_f from the isocentre towards the gantry, Z_f up. The gantry system g is f rotated by
the gantry angle about Y_f (positive clockwise as seen from the isocentre looking towards the
gantry, i.e. the right-hand rotation about +Y_f); the radiation source is on +Z_g, so at gantry 0
the beam points down and at gantry 90 it travels along -X_f. The beam-limiting-device system b
is g rotated by the collimator angle about Z_g. The patient support system s is f rotated by the
patient support angle about Z_f (positive counter-clockwise seen from above). The patient's
DICOM coordinates (x to the patient's left, y posterior, z superior; PS3.3 C.7.6.2.1.1) are
fixed in s according to the PatientPosition (0018,5100) of the setup: for head-first supine
(HFS) the patient's left is +X_s, the head +Y_s, the anterior +Z_s.

A spot at (X, Y) in b at the isocentre plane is the ray from the virtual sources of the two
scanning magnets (distances SMX, SMY upstream of the isocentre; the machine's beam model,
:mod:`mc.beam_model`) through that point: its direction in b is (X/SMX, Y/SMY, -1), normalised,
and the ray starts at the nozzle exit, Z_b = the nozzle-to-isocentre distance.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from geometry.ct import tag_text

from .errors import ConfigError

#: SOP Class UID of RT Ion Plan Storage (DICOM PS3.4 B.5).
RT_ION_PLAN_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.8"

#: Patient positions (PS3.3 C.7.3.1.1.2) and the patient's axes (+x left, +y posterior,
#: +z superior) expressed in the patient support system s (X_s, Y_s, Z_s): rows are the s
#: coordinates of the patient unit vectors e_x, e_y, e_z.
PATIENT_AXES_IN_SUPPORT = {
    "HFS": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "FFS": np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]]),
    "HFP": np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
    "FFP": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}


@dataclass
class EnergyLayer:
    """The spots of one control point: nominal energy [MeV], positions (n, 2) [mm] in the IEC
    gantry system projected onto the isocentre plane, meterset of each spot (MU, or protons for
    a beam whose PrimaryDosimeterUnit is NP), the scan-spot tune
    identifier (the spot-size setting of the machine; recorded, the machine's optics of the
    nominal energy are used for every tune)."""

    nominal_energy_MeV: float
    positions_mm: np.ndarray
    mu: np.ndarray
    tune_id: str = ""


@dataclass
class RangeShifterSetting:
    """A range shifter inserted for a beam: identifier, water-equivalent thickness [mm] and the
    distance from the isocentre to its downstream face [mm] (RangeShifterSettingsSequence)."""

    shifter_id: str
    water_equivalent_thickness_mm: float | None
    isocentre_distance_mm: float | None


@dataclass
class IonBeam:
    """One PBS beam (angles in degrees, lengths in mm, meterset per fraction in the beam's
    ``dosimeter_unit``: MU, or NP, protons)."""

    number: int
    name: str
    gantry_deg: float
    couch_deg: float
    collimator_deg: float
    isocentre_mm: np.ndarray
    meterset_mu: float
    layers: list
    patient_position: str = "HFS"
    snout_position_mm: float | None = None
    machine_name: str = ""
    range_shifters: list = field(default_factory=list)
    dosimeter_unit: str = "MU"  # PrimaryDosimeterUnit: MU, or NP (the meterset counts protons)

    @property
    def n_spots(self):
        return sum(layer.mu.size for layer in self.layers)


@dataclass
class IonPlan:
    """An RT Ion Plan: its identifiers, number of fractions and treatment beams."""

    path: str
    sop_instance_uid: str
    frame_of_reference_uid: str
    study_instance_uid: str
    label: str
    fractions_planned: int
    beams: list
    patient_id: str = ""
    patient_name: str = ""

    def beam(self, key):
        """The beam with number or name ``key``."""
        for b in self.beams:
            if str(b.number) == str(key) or b.name == str(key):
                return b
        raise ConfigError(f"dicom.beams: no beam {key!r} in {self.path}; the plan's beams are "
                          f"{[b.name or b.number for b in self.beams]}")


# ------------------------------------------------------------------------------------------
# IEC 61217 rotations
def _cos_sin(deg):
    """cos and sin of an angle in degrees, exact (0, +-1) at multiples of 90 degrees so that
    beams along the axes run exactly along the grid's axes."""
    a = np.radians(float(deg))
    c, s = float(np.cos(a)), float(np.sin(a))
    return (0.0 if abs(c) < 1e-15 else c), (0.0 if abs(s) < 1e-15 else s)


def _rot_y(deg):
    c, s = _cos_sin(deg)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(deg):
    c, s = _cos_sin(deg)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def beam_axes(gantry_deg, couch_deg, collimator_deg=0.0, patient_position="HFS"):
    """Unit vectors X_b, Y_b, Z_b of the beam limiting device system in patient coordinates
    (rows of the returned 3x3 array). Z_b points from the isocentre to the source; the beam
    travels along -Z_b. (IEC 61217: b = R_z(collimator) in g, g = R_y(gantry) in f, patient in
    s = R_z(couch) in f; see the module docstring.)"""
    if patient_position not in PATIENT_AXES_IN_SUPPORT:
        raise ConfigError(f"PatientPosition (0018,5100) {patient_position!r} is not supported; "
                          f"use one of {sorted(PATIENT_AXES_IN_SUPPORT)}")
    b_in_f = _rot_y(gantry_deg) @ _rot_z(collimator_deg)  # columns: X_b, Y_b, Z_b in f
    f_in_s = _rot_z(couch_deg).T  # s -> f is R_z(couch); f -> s its transpose
    patient_in_s = PATIENT_AXES_IN_SUPPORT[patient_position]  # rows: e_x, e_y, e_z in s
    s_to_patient = patient_in_s  # coordinates: p = patient_in_s @ v_s
    return (s_to_patient @ f_in_s @ b_in_f).T


def spot_rays(beam, smx_mm, smy_mm, nozzle_to_isocentre_mm):
    """Start points [mm] on the nozzle-exit plane and unit directions, in patient coordinates,
    of every spot of ``beam`` (layer by layer), and the beam's axes (rows X_b, Y_b, Z_b)."""
    axes = beam_axes(beam.gantry_deg, beam.couch_deg, beam.collimator_deg, beam.patient_position)
    xy = np.concatenate([layer.positions_mm for layer in beam.layers]) if beam.layers else np.zeros((0, 2))
    X, Y = xy[:, 0], xy[:, 1]
    d_b = np.column_stack([X / smx_mm, Y / smy_mm, -np.ones_like(X)])
    d_b /= np.linalg.norm(d_b, axis=1)[:, None]
    zn = float(nozzle_to_isocentre_mm)
    p_b = np.column_stack([X * (1.0 - zn / smx_mm), Y * (1.0 - zn / smy_mm), np.full_like(X, zn)])
    start = beam.isocentre_mm[None, :] + p_b @ axes
    direction = d_b @ axes
    return start, direction, axes


# ------------------------------------------------------------------------------------------
# reading
def _get(ds, keyword, path, where, required=True, default=None):
    """The value of attribute ``keyword`` of ``ds``; missing or empty: ``default``, or a
    ConfigError naming the file, the attribute and its tag when ``required``."""
    val = getattr(ds, keyword, None)
    if val is None or (isinstance(val, str) and val == ""):
        if required:
            raise ConfigError(f"{path}: {where}{tag_text(keyword)} is missing; export the plan with it")
        return default
    return val


def _sequence(ds, keyword, path, where):
    """A required, non-empty sequence (ConfigError naming it otherwise)."""
    seq = list(_get(ds, keyword, path, where))
    if not seq:
        raise ConfigError(f"{path}: {where}{tag_text(keyword)} is empty; export the plan with it")
    return seq


def _number(ds, keyword, path, where, count=None):
    """A required number, or ``count`` numbers, as floats (ConfigError naming the attribute)."""
    value = _get(ds, keyword, path, where)
    try:
        out = np.asarray(value, float).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: {where}{tag_text(keyword)} is not numeric: {value!r}") from None
    if out.size != (count or 1) or not np.all(np.isfinite(out)):
        raise ConfigError(f"{path}: {where}{tag_text(keyword)} must hold {count or 1} finite number(s), "
                          f"got {value!r}")
    return out if count else float(out[0])


def _refuse(ds, path, where):
    """ConfigError for beams flashmc cannot deliver (passive scattering, uniform scanning,
    arcs, beam modifiers, non-proton ions, meterset not in MU or particles)."""
    mode = str(getattr(ds, "ScanMode", "")).upper()
    stationary = mode == "MODULATED_SPEC" and str(getattr(ds, "ModulatedScanModeType", "")).upper() == "STATIONARY"
    if mode != "MODULATED" and not stationary:
        kind = {"NONE": "passive scattering", "UNIFORM": "uniform scanning (wobbling)"}.get(mode, f"ScanMode {mode!r}")
        raise ConfigError(f"{path}: {where}is {kind} (ScanMode (300A,0308) = {mode or 'absent'}); only pencil-beam "
                          "scanning (MODULATED, or MODULATED_SPEC with STATIONARY spots) beams are supported")
    rad = str(getattr(ds, "RadiationType", "PROTON")).upper()
    if rad != "PROTON":
        raise ConfigError(f"{path}: {where}RadiationType (300C,00C6) is {rad}; only PROTON beams are supported")
    unit = str(getattr(ds, "PrimaryDosimeterUnit", "MU")).upper()
    if unit not in ("MU", "NP"):
        raise ConfigError(f"{path}: {where}PrimaryDosimeterUnit (300A,00B3) is {unit}; the meterset must be in MU "
                          "or NP (number of particles)")
    for keyword, what in (("NumberOfBlocks", "blocks (apertures)"), ("NumberOfCompensators", "range compensators"),
                          ("NumberOfBoli", "boli"), ("NumberOfWedges", "wedges"),
                          ("NumberOfLateralSpreadingDevices", "lateral spreading devices"),
                          ("NumberOfRangeModulators", "range modulators")):
        if int(getattr(ds, keyword, 0) or 0) > 0:
            raise ConfigError(f"{path}: {where}has {what} ({keyword}); beam modifiers other than range shifters "
                              "are not supported: recompute the beam without them")


#: Attributes of the first control point that must not change within a beam (a static beam).
_STATIC = ("GantryAngle", "PatientSupportAngle", "BeamLimitingDeviceAngle", "SnoutPosition", "IsocenterPosition",
           "TableTopPitchAngle", "TableTopRollAngle", "TableTopEccentricAngle", "GantryPitchAngle")


def _check_first(first, path, where):
    """The first control point's geometry: required angles and isocentre; couch pitch, roll and
    eccentric rotation, gantry pitch and a collimator rotation are refused (a scan spot map is
    given in the IEC GANTRY system projected onto the isocentre plane; with a collimator
    rotation its frame would be ambiguous)."""
    here = where + "control point 0: "
    _number(first, "GantryAngle", path, here)
    _number(first, "PatientSupportAngle", path, here)
    _number(first, "IsocenterPosition", path, here, count=3)
    for keyword in ("TableTopPitchAngle", "TableTopRollAngle", "TableTopEccentricAngle", "GantryPitchAngle",
                    "BeamLimitingDeviceAngle"):
        v = getattr(first, keyword, None)
        if v not in (None, "") and abs(float(v)) > 1e-6:
            raise ConfigError(f"{path}: {here}{tag_text(keyword)} is {float(v):g} degrees; only 0 is supported")


def _check_static(cp, first, path, where):
    for keyword in _STATIC:
        v, v0 = getattr(cp, keyword, None), getattr(first, keyword, None)
        if v in (None, "") or v0 in (None, ""):
            continue
        if not np.allclose(np.asarray(v, float), np.asarray(v0, float), atol=1e-6):
            raise ConfigError(f"{path}: {where}{tag_text(keyword)} changes within the beam; only static beams "
                              "(no arcs, no moving isocentre, snout or couch) are supported")


def _layers(beam_ds, path, where):
    """Energy layers of a beam's control points; checks that the beam is static
    (:data:`_STATIC`) and that its range-shifter settings do not change."""
    cps = _sequence(beam_ds, "IonControlPointSequence", path, where)
    first = cps[0]
    _check_first(first, path, where)
    layers = []
    energy = None
    for i, cp in enumerate(cps):
        w_here = f"{where}control point {i}: "
        _check_static(cp, first, path, w_here)
        if i > 0 and getattr(cp, "RangeShifterSettingsSequence", None) is not None and \
                _shifter_settings(cp) != _shifter_settings(first):
            raise ConfigError(f"{path}: {w_here}RangeShifterSettingsSequence (300A,0360) changes within the beam; "
                              "a range shifter inserted or changed between layers is not supported")
        if getattr(cp, "NominalBeamEnergy", None) is not None:
            energy = _number(cp, "NominalBeamEnergy", path, w_here)
        weights = getattr(cp, "ScanSpotMetersetWeights", None)
        if weights is None:
            continue
        w = np.atleast_1d(np.asarray(weights, float))
        if not np.any(w > 0):
            continue
        if energy is None:
            raise ConfigError(f"{path}: {w_here}NominalBeamEnergy (300A,0114) is missing")
        pos = np.asarray(_get(cp, "ScanSpotPositionMap", path, w_here), float)
        if pos.size != 2 * w.size:
            raise ConfigError(f"{path}: {w_here}ScanSpotPositionMap (300A,0394) holds {pos.size} values for "
                              f"{w.size} spots; it must hold an (X, Y) pair per ScanSpotMetersetWeights entry")
        if np.any(w < 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(pos)):
            raise ConfigError(f"{path}: {w_here}ScanSpotMetersetWeights (300A,0396) must be finite and >= 0")
        layers.append(EnergyLayer(energy, pos.reshape(-1, 2), w, str(getattr(cp, "ScanSpotTuneID", ""))))
    if not layers:
        raise ConfigError(f"{path}: {where}has no spot with a positive ScanSpotMetersetWeights (300A,0396)")
    return first, layers


def _shifter_settings(cp):
    """(setting, shifter number, WET, distance) of each entry of a control point's
    RangeShifterSettingsSequence, to compare control points."""
    return [(str(getattr(s, "RangeShifterSetting", "")).upper(), str(getattr(s, "ReferencedRangeShifterNumber", "")),
             getattr(s, "RangeShifterWaterEquivalentThickness", None), getattr(s, "IsocenterToRangeShifterDistance", None))
            for s in getattr(cp, "RangeShifterSettingsSequence", [])]


def _range_shifters(beam_ds, first_cp, path, where):
    ids = {str(getattr(r, "RangeShifterNumber", "")): str(getattr(r, "RangeShifterID", ""))
           for r in getattr(beam_ds, "RangeShifterSequence", [])}
    declared = int(getattr(beam_ds, "NumberOfRangeShifters", 0) or 0)
    settings = getattr(first_cp, "RangeShifterSettingsSequence", None)
    if declared > 0 and settings is None:
        raise ConfigError(f"{path}: {where}NumberOfRangeShifters (300A,0312) is {declared} but control point 0 has no "
                          "RangeShifterSettingsSequence (300A,0360) saying whether it is in; export the plan with it")
    out = []
    for s in settings or []:
        if str(getattr(s, "RangeShifterSetting", "")).upper() in ("", "OUT"):
            continue
        wet = getattr(s, "RangeShifterWaterEquivalentThickness", None)
        dist = getattr(s, "IsocenterToRangeShifterDistance", None)
        out.append(RangeShifterSetting(ids.get(str(getattr(s, "ReferencedRangeShifterNumber", "")), ""),
                                       None if wet is None else float(wet), None if dist is None else float(dist)))
    return out


def _beam(beam_ds, meterset, setup_position, path):
    where = f"beam {getattr(beam_ds, 'BeamNumber', '?')} ({getattr(beam_ds, 'BeamName', '')}): "
    _refuse(beam_ds, path, where)
    first, layers = _layers(beam_ds, path, where)
    final = _number(beam_ds, "FinalCumulativeMetersetWeight", path, where)
    total_w = sum(float(layer.mu.sum()) for layer in layers)
    if final <= 0 or abs(total_w - final) > 1e-3 * final:
        raise ConfigError(f"{path}: {where}the spot weights sum to {total_w:g} but FinalCumulativeMetersetWeight "
                          f"(300A,010E) is {final:g}; the plan is inconsistent")
    for layer in layers:
        layer.mu = layer.mu * (meterset / final)
    snout = getattr(first, "SnoutPosition", None)
    return IonBeam(
        number=int(_number(beam_ds, "BeamNumber", path, where)), name=str(getattr(beam_ds, "BeamName", "")),
        gantry_deg=float(first.GantryAngle), couch_deg=float(first.PatientSupportAngle), collimator_deg=0.0,
        isocentre_mm=np.asarray(first.IsocenterPosition, float), meterset_mu=meterset, layers=layers,
        patient_position=setup_position, snout_position_mm=None if snout in (None, "") else float(snout),
        machine_name=str(getattr(beam_ds, "TreatmentMachineName", "")),
        range_shifters=_range_shifters(beam_ds, first, path, where),
        dosimeter_unit=str(getattr(beam_ds, "PrimaryDosimeterUnit", "MU")).upper())


def _meterset_and_fractions(ds, path):
    groups = _sequence(ds, "FractionGroupSequence", path, "")
    if len(groups) > 1:
        raise ConfigError(f"{path}: FractionGroupSequence (300A,0070) holds {len(groups)} fraction groups; one is "
                          "supported: export each group (e.g. a boost) as a plan of its own")
    fg = groups[0]
    fractions = int(_number(fg, "NumberOfFractionsPlanned", path, "fraction group 1: "))
    if fractions < 1:
        raise ConfigError(f"{path}: NumberOfFractionsPlanned (300A,0078) is {fractions}; it must be at least 1")
    meterset = {}
    for k, rb in enumerate(getattr(fg, "ReferencedBeamSequence", [])):
        here = f"fraction group 1, referenced beam {k}: "
        number = int(_number(rb, "ReferencedBeamNumber", path, here))
        if getattr(rb, "BeamMeterset", None) is not None:
            mu = _number(rb, "BeamMeterset", path, here)
            if mu < 0:
                raise ConfigError(f"{path}: {here}BeamMeterset (300A,0086) is {mu:g}; it must be >= 0")
            meterset[number] = mu
    return fractions, meterset


def _setup_positions(ds, path):
    """PatientPosition of each PatientSetupNumber (PatientSetupSequence (300A,0180))."""
    out = {}
    for k, s in enumerate(_sequence(ds, "PatientSetupSequence", path, "")):
        here = f"patient setup {k}: "
        number = int(_number(s, "PatientSetupNumber", path, here))
        out[number] = str(_get(s, "PatientPosition", path, here))
    return out


def read_rt_ion_plan(path):
    """The :class:`IonPlan` of an RT Ion Plan file (ConfigError naming the file, the attribute
    and the fix when it is not a PBS proton plan flashmc can recompute)."""
    import pydicom

    if not os.path.isfile(path):
        raise ConfigError(f"dicom.plan: {path!r} does not exist or is not a file")
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise ConfigError(f"dicom.plan: cannot read {path!r} as DICOM ({exc})") from None
    if str(getattr(ds, "SOPClassUID", "")) != RT_ION_PLAN_SOP_CLASS:
        raise ConfigError(f"{path}: SOPClassUID (0008,0016) is {getattr(ds, 'SOPClassUID', 'absent')}, not RT Ion "
                          f"Plan ({RT_ION_PLAN_SOP_CLASS}); give the RT Ion Plan file as dicom.plan")
    fractions, meterset = _meterset_and_fractions(ds, path)
    setup = _setup_positions(ds, path)
    beams = []
    for k, b in enumerate(_get(ds, "IonBeamSequence", path, "")):
        if str(getattr(b, "TreatmentDeliveryType", "TREATMENT")).upper() != "TREATMENT":
            continue  # setup beams deliver no dose
        n = int(_number(b, "BeamNumber", path, f"beam item {k}: "))
        if n not in meterset:
            raise ConfigError(f"{path}: beam {n}: BeamMeterset (300A,0086) is missing from the fraction group's "
                              "ReferencedBeamSequence; export the plan with its meterset")
        ref = int(getattr(b, "ReferencedPatientSetupNumber", 0) or 0) or (min(setup) if len(setup) == 1 else None)
        if ref not in setup:
            raise ConfigError(f"{path}: beam {n}: ReferencedPatientSetupNumber (300C,006A) names no patient setup "
                              f"(setups: {sorted(setup)}); the patient position is needed for the beam's geometry")
        beams.append(_beam(b, meterset[n], setup[ref], path))
    if not beams:
        raise ConfigError(f"{path}: the plan has no TREATMENT beam")
    return IonPlan(path=str(path), sop_instance_uid=str(ds.SOPInstanceUID),
                   frame_of_reference_uid=str(_get(ds, "FrameOfReferenceUID", path, "")),
                   study_instance_uid=str(getattr(ds, "StudyInstanceUID", "")),
                   label=str(getattr(ds, "RTPlanLabel", "")), fractions_planned=fractions, beams=beams,
                   patient_id=str(getattr(ds, "PatientID", "")), patient_name=str(getattr(ds, "PatientName", "")))


# ------------------------------------------------------------------------------------------
# writing (phantom plans, and beams defined in YAML exported for other codes)
def _control_point(index, energy, cum_weight, xy=None, w=None, first=None):
    from pydicom.dataset import Dataset

    cp = Dataset()
    cp.ControlPointIndex = index
    cp.NominalBeamEnergy = float(energy)
    cp.CumulativeMetersetWeight = float(cum_weight)
    n = 0 if w is None else len(w)
    cp.ScanSpotTuneID = "1"
    cp.NumberOfScanSpotPositions = max(n, 1)
    cp.ScanSpotPositionMap = [float(v) for v in (np.ravel(xy) if n else [0.0, 0.0])]
    cp.ScanSpotMetersetWeights = [float(v) for v in (w if n else [0.0])]
    if first is not None:
        for keyword, value in first.items():
            setattr(cp, keyword, value)
    return cp


def _beam_dataset(number, spec, patient_setup_number=1):
    """IonBeamSequence item of ``spec`` (see :func:`write_rt_ion_plan`)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    b = Dataset()
    b.BeamNumber = number
    b.BeamName = spec.get("name", f"B{number}")
    b.BeamType = "STATIC"
    b.RadiationType = "PROTON"
    b.TreatmentDeliveryType = "TREATMENT"
    b.ScanMode = spec.get("scan_mode", "MODULATED")
    b.TreatmentMachineName = spec.get("machine", "generic_pbs")
    b.PrimaryDosimeterUnit = "MU"
    b.ReferencedPatientSetupNumber = patient_setup_number
    for keyword in ("NumberOfWedges", "NumberOfCompensators", "NumberOfBoli", "NumberOfBlocks",
                    "NumberOfRangeShifters", "NumberOfLateralSpreadingDevices", "NumberOfRangeModulators"):
        setattr(b, keyword, int(spec.get(keyword, 0)))
    first = {"GantryAngle": float(spec.get("gantry_deg", 0.0)), "GantryRotationDirection": "NONE",
             "PatientSupportAngle": float(spec.get("couch_deg", 0.0)), "PatientSupportRotationDirection": "NONE",
             "BeamLimitingDeviceAngle": float(spec.get("collimator_deg", 0.0)),
             "BeamLimitingDeviceRotationDirection": "NONE",
             "IsocenterPosition": [float(v) for v in spec["isocentre_mm"]],
             "TableTopPitchAngle": 0.0, "TableTopRollAngle": 0.0,
             "SnoutPosition": float(spec.get("snout_position_mm", 300.0))}
    cps, cum = [], 0.0
    for energy, xy, w in spec["layers"]:
        w = np.asarray(w, float)
        cps.append(_control_point(len(cps), energy, cum, xy, w, first if not cps else None))
        cum += float(w.sum())
        cps.append(_control_point(len(cps), energy, cum))
    b.IonControlPointSequence = Sequence(cps)
    b.NumberOfControlPoints = len(cps)
    b.FinalCumulativeMetersetWeight = cum
    return b, cum


def write_rt_ion_plan(path, beams, *, frame_of_reference_uid, study_instance_uid, fractions=1,
                      patient_position="HFS", patient_id="PHANTOM", patient_name="flashmc^phantom", label="PLAN"):
    """Write an RT Ion Plan of PBS proton beams (DICOM PS3.3 A.50, the modules read by
    :func:`read_rt_ion_plan`). ``beams``: list of dicts with ``isocentre_mm``, ``gantry_deg``,
    ``couch_deg``, optional ``collimator_deg``, ``name``, ``meterset_mu`` (per fraction) and
    ``layers``: list of (nominal energy [MeV], spot positions (n, 2) [mm], relative weights (n,)).
    Returns the plan's SOPInstanceUID."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_ION_PLAN_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RT_ION_PLAN_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTPLAN"
    ds.PatientID, ds.PatientName = patient_id, patient_name
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_instance_uid, generate_uid()
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.RTPlanLabel, ds.RTPlanGeometry = label, "PATIENT"
    ds.Manufacturer = "flashmc"
    setup = Dataset()
    setup.PatientSetupNumber, setup.PatientPosition = 1, patient_position
    ds.PatientSetupSequence = Sequence([setup])
    items, refs = [], []
    for i, spec in enumerate(beams, start=1):
        b, _ = _beam_dataset(i, spec)
        items.append(b)
        rb = Dataset()
        rb.ReferencedBeamNumber = i
        rb.BeamMeterset = float(spec.get("meterset_mu", 100.0))
        refs.append(rb)
    ds.IonBeamSequence = Sequence(items)
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = int(fractions)
    fg.NumberOfBeams = len(items)
    fg.ReferencedBeamSequence = Sequence(refs)
    ds.FractionGroupSequence = Sequence([fg])
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return str(ds.SOPInstanceUID)
