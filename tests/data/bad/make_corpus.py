"""Write the bad-input corpus (run from anywhere: ``python tests/data/bad/make_corpus.py``).

The files are committed; this script documents how the ones that cannot be typed in an editor
(Latin-1, BOM, UTF-16, binary, no final newline, Excel workbooks) were made, and rebuilds all of
them. ``cases.yaml`` beside it says what each file is for and what the loader must say.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent

GOOD = (
    "account_id,date,revenue,product,order_id\n"
    "A001,2024-01-15,120.50,P1,O1\n"
    "A001,2024-02-03,80.00,P2,O2\n"
    "A002,2024-01-20,300.00,P1,O3\n"
    "A003,2024-03-05,45.25,P3,O4\n"
)

TEXT = {
    # --- fatal -------------------------------------------------------------------------------
    "good_ledger.csv": GOOD,
    "missing_date_column.csv": "account_id,revenue,product\nA001,120.50,P1\nA002,300.00,P1\n",
    "amount_text_column.csv": (
        "account_id,date,revenue\nA001,2024-01-15,high\nA002,2024-01-20,low\nA003,2024-02-01,medium\n"
    ),
    "amount_bad_rows.csv": (
        "account_id,date,revenue\n"
        "A001,2024-01-15,120.50\n"
        "A001,2024-02-03,n/a\n"
        "A002,2024-01-20,300.00\n"
        "A002,2024-02-20,75.10\n"
        "A003,2024-03-05,\"12,5O\"\n"
        "A003,2024-03-09,8.00\n"
    ),
    "bad_dates.csv": (
        "account_id,date,revenue\nA001,2024-01-15,10\nA001,2024-02-30,20\nA002,yesterday,30\nA002,2024-03-01,40\n"
    ),
    "programme_costs_negative.csv": "period,cost,item\n2024-01-01,5000,salaries\n2024-02-01,-1200,travel\n"
                                    "2024-03-01,5000,salaries\n",
    "accounts_conflict.csv": (
        "account_id,account_name,segment\n"
        "A001,Alpha AG,Enterprise\n"
        "A002,Beta GmbH,SMB\n"
        "A001,Alpha AG,SMB\n"
    ),
    "ledger_semicolon.csv": "account_id;date;revenue\nA001;2024-01-15;120,50\nA002;2024-01-20;300,00\n",
    "header_only.csv": "account_id,date,revenue\n",
    "duplicate_columns.csv": "account_id,date,revenue,revenue\nA001,2024-01-15,10,11\n",
    "mixed_dates.csv": (
        "account_id,date,revenue\nA001,2024-01-15,10\nA001,15/02/2024,20\nA002,2024-03-01,30\nA002,03/04/2024,40\n"
    ),
    "dayfirst_dates.csv": "account_id,date,revenue\nA001,15.01.2024,10\nA002,20.02.2024,20\nA002,03.03.2024,30\n",
    "us_dates.csv": "account_id,date,revenue\nA001,01/15/2024,10\nA002,02/20/2024,20\nA002,03/03/2024,30\n",
    "thousands.csv": 'account_id,date,revenue\nA001,2024-01-15,"1,234.50"\nA002,2024-01-20,"12,000.00"\n'
                     "A003,2024-02-01,99.00\n",
    "decimal_comma.csv": 'account_id,date,revenue\nA001,2024-01-15,"120,50"\nA002,2024-01-20,"3,75"\n',
    "crm_export.csv": "KundenNr,Datum,Umsatz\nA001,2024-01-15,10\nA002,2024-01-20,20\n",
    "derive_ledger.csv": (
        "account_id,date,Quantity,UnitPrice\nA001,2024-01-15,2,10.00\nA002,2024-01-20,1,99.90\n"
    ),
    "derive_bad_quantity.csv": (
        "account_id,date,Quantity,UnitPrice\nA001,2024-01-15,2,10.00\nA002,2024-01-20,two,99.90\n"
        "A002,2024-02-20,1,99.90\n"
    ),
    "too_many_fields.csv": (
        "account_id,date,revenue,product\nA001,2024-01-15,10,P1\nA002,2024-01-20,20,P2\n"
        "A003,2024-02-01,12,50,P3\nA003,2024-02-02,13,P3\n"
    ),
    "extra_field_every_row.csv": (
        "account_id,date,revenue\nA001,2024-01-15,10,P1\nA002,2024-01-20,20,P2\nA003,2024-02-01,30,P3\n"
    ),
    "unclosed_quote.csv": 'account_id,date,revenue,product\nA001,2024-01-15,10,P1\nA002,2024-01-20,20,"Widget\n',
    "bool_bad.csv": "account_id,account_name,is_key_account\nA001,Alpha,yes\nA002,Beta,maybe\nA003,Gamma,no\n",
    "empty_header_name.csv": "account_id,,revenue,date\nA001,x,10,2024-01-15\n",
    "all_rows_unusable.csv": "account_id,date,revenue\n,2024-01-15,10\n,2024-01-20,20\n",
    # --- handled and logged ----------------------------------------------------------------
    "accounts_identical_dupes.csv": (
        "account_id,account_name,segment\n"
        "A001,Alpha AG,Enterprise\n"
        "A002,Beta GmbH,SMB\n"
        "A001,Alpha AG,Enterprise\n"
        "A003,Gamma SA,SMB\n"
    ),
    "future_dates.csv": (
        "account_id,date,revenue,order_id\n"
        "A001,2024-01-15,10,O1\n"
        "A001,2999-01-15,20,O2\n"
        "A002,2024-01-20,30,O3\n"
        "A002,2998-12-31,40,O4\n"
    ),
    "ids_as_float.csv": (
        "account_id,date,revenue\n1001.0,2024-01-15,10\n1002.0,2024-01-20,20\n1001.0,2024-02-15,30\n"
    ),
    "currency_symbols.csv": (
        "account_id,date,revenue\nA001,2024-01-15,€ 120.50\nA002,2024-01-20,300.00 EUR\nA003,2024-02-01,-$40.00\n"
        "A003,2024-02-02,15.00\n"
    ),
    "surveys_scores.csv": (
        "account_id,date,nps,csat,referenceable\n"
        "A001,2024-02-01,9,5,yes\n"
        "A002,2024-02-03,11,4,no\n"
        "A003,2024-02-05,7,0,\n"
        "A001,2024-03-01,-1,3,yes\n"
    ),
    "surveys_unknown_account.csv": (
        "account_id,date,nps\nA001,2024-02-01,9\nZ999,2024-02-03,3\nA002,2024-02-05,8\nZ998,2024-02-06,6\n"
    ),
    "accounts_likelihood.csv": (
        "account_id,account_name,renewal_likelihood,product_fit\n"
        "A001,Alpha AG,0.8,4\n"
        "A002,Beta GmbH,1.5,3\n"
        "A003,Gamma SA,0.4,6\n"
    ),
    "accounts_small.csv": "account_id,account_name\nA001,Alpha AG\nA002,Beta GmbH\n",
    "missing_ids.csv": (
        "account_id,date,revenue\nA001,2024-01-15,10\n,2024-01-20,20\nA002,2024-02-01,30\n,2024-02-02,40\n"
    ),
    "duplicate_lines_order.csv": (
        "account_id,date,revenue,product,order_id\n"
        "A001,2024-01-15,10.00,P1,O1\n"
        "A001,2024-01-15,10.00,P1,O1\n"
        "A002,2024-01-20,20.00,P2,O2\n"
        "A002,2024-01-20,20.00,P2,O2\n"
        "A002,2024-01-20,20.00,P2,O2\n"
    ),
    "duplicate_lines_no_order.csv": (
        "account_id,date,revenue,product\n"
        "A001,2024-01-15,10.00,P1\n"
        "A001,2024-01-15,10.00,P1\n"
        "A002,2024-01-20,20.00,P2\n"
    ),
    "credit_notes.csv": "account_id,date,revenue\nA001,2024-01-15,100\nA001,2024-01-20,-30\nA002,2024-02-01,50\n",
    "blank_lines.csv": (
        "account_id,date,revenue\nA001,2024-01-15,10\n\nA002,2024-01-20,20\n\n,2024-02-01,5\n"
    ),
    "short_rows.csv": "account_id,date,revenue\nA001,2024-01-15,10\nA002,2024-01-20\nA003,2024-02-01,30\n",
    "leading_zeros.csv": "account_id,date,revenue\n00123,2024-01-15,10\n0456,2024-01-20,20\n",
    "sql_nulls.csv": (
        "account_id,date,revenue,cost\nA001,2024-01-15,100,60\nA002,2024-01-20,200,NULL\n"
    ),
    # a CRM export with the UTC offset of each user's desk, some written as hours only
    "mixed_offsets.csv": (
        "account_id,date,revenue\nA001,2024-01-15 10:00-01,10\nA002,2024-01-15 09:30+02:00,20\n"
        "A003,2024-01-16T08:00:00Z,30\nA001,2024-01-17,40\n"
    ),
    "thousands_declared.csv": 'account_id;date;revenue\nA001;15.01.2024;1.234,50\nA002;20.01.2024;12.000,00\n',
}

LATIN1 = "Kundennummer;Name;Segment\nK001;Müller GmbH;Großhandel\nK002;Café Zürich AG;Gastronomie\n"
LATIN1_LEDGER = "Kundennummer;Datum;Umsatz\nK001;15.01.2024;120,50\nK002;20.01.2024;33,10\n"


def main() -> None:
    for name, text in TEXT.items():
        (HERE / name).write_bytes(text.encode("utf-8"))
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "accounts_latin1.csv").write_bytes(LATIN1.encode("latin-1"))
    (HERE / "ledger_latin1.csv").write_bytes(LATIN1_LEDGER.encode("latin-1"))
    (HERE / "ledger_bom.csv").write_bytes(b"\xef\xbb\xbf" + GOOD.encode("utf-8"))
    (HERE / "ledger_utf16.csv").write_bytes(GOOD.replace("\n", "\r\n").encode("utf-16"))
    (HERE / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (HERE / "corrupt.xlsx").write_bytes(b"PK\x03\x04 this is not really a workbook" + bytes(64))
    # the last line is cut off in the middle: fewer fields than the header and no line end
    (HERE / "truncated.csv").write_bytes(
        b"account_id,date,revenue,product\nA001,2024-01-15,10,P1\nA002,2024-01-20,20,P2\nA003,2024-0"
    )

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Accounts"
    for row in [("account_id", "account_name"), ("A001", "Alpha AG"), ("A002", "Beta GmbH")]:
        sheet.append(row)
    book.create_sheet("Notes").append(("exported 2024-04-01",))
    book.save(HERE / "crm.xlsx")

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Accounts"
    for row in [("account_id", "account_name", "account_name"), ("A001", "Alpha AG", "Alpha"),
                ("A002", "Beta GmbH", "Beta")]:
        sheet.append(row)
    book.save(HERE / "crm_duplicate_columns.xlsx")


if __name__ == "__main__":
    main()
