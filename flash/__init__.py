"""FLASH dose-rate module (beam time structure, dose rate, oxygen depletion, sparing).

Not yet implemented in this release; see README "Status".
"""
