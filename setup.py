from setuptools import find_packages, setup

setup(
    name="flashmc",
    version="0.1.0",
    description="Monte Carlo proton transport and FLASH dose-rate simulator for radiotherapy",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["mc", "mc.*", "physics", "physics.*", "geometry", "geometry.*",
                                    "flash", "flash.*", "benchmarks", "benchmarks.*"]),
    install_requires=[
        "numpy>=1.24",
        "numba>=0.59",
        "h5py>=3.8",
        "matplotlib>=3.7",
        "pyyaml>=6.0",
        "pydantic>=2.5",
        "scipy>=1.10",
        "tqdm>=4.60",
        "pydicom>=3.0",
        "pymedphys>=0.40",
    ],
    package_data={"geometry": ["calibration/*.yaml"]},
    extras_require={
        "mpi": ["mpi4py>=3.1", "mpich"],
        "test": ["pytest>=7.4", "mpi4py>=3.1", "mpich", "SimpleITK>=2.3",
                 "dicompyler-core>=0.5.6"],
    },
)
