"""Tissue oxygenation: baseline partial pressure of oxygen (pO2, in mmHg) of tissue presets,
which a FLASH configuration may name instead of a number (``flash.tissue_pO2``).

* bone marrow 9.9 mmHg (Spencer et al. 2014, Nature 508:269: peri-sinusoidal marrow, where
  haematopoietic stem cells reside; the marrow as a whole is below 32 mmHg);
* well-oxygenated normal tissue 45.8 mmHg and hypoxic tumour 2.5 mmHg (McKeown 2014, Br. J.
  Radiol. 87:20130676: mean of normal tissues; prostate 2.4, pancreas 2.7 mmHg).
"""

#: Baseline pO2 [mmHg] of tissue presets (sources in the module docstring).
TISSUE_PO2_MMHG = {
    "bone_marrow": 9.9,
    "normal_tissue": 45.8,
    "hypoxic_tumour": 2.5,
}
