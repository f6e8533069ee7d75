"""Write resellers.xlsx, the AdventureWorks-like accounts workbook (``python make_resellers.py``).

Sheet "Resellers" holds the reseller master data (ResellerKey as numbers, as Excel stores them);
sheet "About" a note, so the loader must pick the sheet by name.
"""

from pathlib import Path

import openpyxl

ROWS = [
    ("ResellerKey", "ResellerName", "BusinessType", "Country", "YearOpened"),
    (1, "A Bike Store", "Value Added Reseller", "United States", 1974),
    (117, "Bike World", "Warehouse", "United States", 1983),
    (442, "Outdoor Equipment Store", "Specialty Bike Shop", "Canada", 1995),
    (676, "Better Bike Shop", "Value Added Reseller", "United States", 1988),
]


def main() -> None:
    book = openpyxl.Workbook()
    about = book.active
    about.title = "About"
    about.append(("AdventureWorks-like reseller master data, for tests",))
    sheet = book.create_sheet("Resellers")
    for row in ROWS:
        sheet.append(row)
    book.save(Path(__file__).resolve().parent / "resellers.xlsx")


if __name__ == "__main__":
    main()
