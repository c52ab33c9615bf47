"""Reading users' FITS files (stars.md section 4): `read.read_observations` opens a file (open_fits), lets the
first matching loader of the registry (registry: sdss_spectrum, wcs_spectrum, ifu_cube, line_table) read it, and
hands on LineObservations (observations). The loaders share the HDU header checks (headers), spectral axes
(spectral_axis), units (units), spectrum checks (spectrum), the line fits (linefit) and the assembly of line
fluxes into flagged objects (assemble)."""
