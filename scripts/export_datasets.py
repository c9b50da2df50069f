"""Write real series that ship inside statsmodels as CSV files for `python -m training --csv`.

- sunspots.csv: yearly mean sunspot numbers 1700-2008, columns year, sunspots.
- co2.csv: weekly atmospheric CO2 at Mauna Loa 1958-2001 in ppm, columns date, co2.
  Weeks without a measurement are written as empty cells, so training needs
  `--fill interpolate`.
- elnino.csv: monthly mean sea surface temperature of the El Niño region
  1950-2010 in degrees Celsius, columns month, sst.

The data sets are read from the installed package (pip install '.[datasets]'),
never downloaded. Usage: python scripts/export_datasets.py [OUTPUT_DIR], default data/.
"""

import argparse
import logging
from pathlib import Path

from statsmodels.datasets import co2, elnino, sunspots

logger = logging.getLogger(__name__)


def export_sunspots(directory: Path) -> Path:
    """Write the yearly sunspot numbers and return the file's path."""
    frame = sunspots.load_pandas().data
    path = directory / "sunspots.csv"
    frame = frame.rename(columns={"YEAR": "year", "SUNACTIVITY": "sunspots"}).astype({"year": int})
    frame.to_csv(path, index=False)
    logger.info("wrote %d rows to %s", len(frame), path)
    return path


def export_co2(directory: Path) -> Path:
    """Write the weekly CO2 series, with empty cells for missing weeks, and return the file's path."""
    frame = co2.load_pandas().data
    frame.index.name = "date"
    path = directory / "co2.csv"
    frame.to_csv(path, date_format="%Y-%m-%d")
    logger.info("wrote %d rows (%d missing values) to %s", len(frame), int(frame["co2"].isna().sum()), path)
    return path


def export_elnino(directory: Path) -> Path:
    """Write the monthly sea surface temperatures, one row per month in time order, and return the file's path."""
    frame = elnino.load_pandas().data
    months = frame.columns[1:]
    rows = [
        (f"{int(year)}-{number:02d}", temperature)
        for year, temperatures in zip(frame["YEAR"], frame[months].itertuples(index=False))
        for number, temperature in enumerate(temperatures, start=1)
    ]
    path = directory / "elnino.csv"
    path.write_text("month,sst\n" + "".join(f"{month},{temperature!r}\n" for month, temperature in rows), encoding="utf-8")
    logger.info("wrote %d rows to %s", len(rows), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", nargs="?", type=Path, default=Path("data"), help="directory for the CSV files (default: data)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    args.output_dir.mkdir(parents=True, exist_ok=True)
    export_sunspots(args.output_dir)
    export_co2(args.output_dir)
    export_elnino(args.output_dir)


if __name__ == "__main__":
    main()
