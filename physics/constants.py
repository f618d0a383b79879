"""Physical constants used throughout flashmc.

Values are CODATA 2018 (Tiesinga et al., Rev. Mod. Phys. 93, 025010, 2021) unless stated.
Units: MeV for energies and masses (m c^2), cm for lengths, g for masses, s for times.
"""

#: Electron rest energy m_e c^2 [MeV] (CODATA 2018).
ELECTRON_MASS_MEV = 0.51099895000
#: Proton rest energy m_p c^2 [MeV] (CODATA 2018).
PROTON_MASS_MEV = 938.27208816
#: Deuteron rest energy m_d c^2 [MeV] (CODATA 2018).
DEUTERON_MASS_MEV = 1875.61294257
#: Atomic mass unit u c^2 [MeV] (CODATA 2018).
AMU_MEV = 931.49410242
#: 16O nuclear rest energy [MeV] (AME2016 atomic mass 15.99491462 u minus 8 electron masses).
O16_MASS_MEV = 15.99491462 * AMU_MEV - 8 * ELECTRON_MASS_MEV
#: Classical electron radius r_e [cm] (CODATA 2018).
ELECTRON_RADIUS_CM = 2.8179403262e-13
#: Avogadro constant N_A [1/mol] (exact, SI 2019).
AVOGADRO = 6.02214076e23
#: Fine-structure constant alpha (CODATA 2018).
FINE_STRUCTURE = 7.2973525693e-3
#: Joules per MeV (exact, SI 2019: 1 eV = 1.602176634e-19 J).
J_PER_MEV = 1.602176634e-13

#: Bethe prefactor K = 4 pi N_A r_e^2 m_e c^2 [MeV cm^2 / mol] (PDG Review of Particle
#: Physics, "Passage of particles through matter", Table 34.1: 0.307075 MeV mol^-1 cm^2).
BETHE_K = 4.0 * 3.141592653589793 * AVOGADRO * ELECTRON_RADIUS_CM**2 * ELECTRON_MASS_MEV

#: Elementary charge e [C] (exact, SI 2019).
ELEMENTARY_CHARGE_C = 1.602176634e-19
