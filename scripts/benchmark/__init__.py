"""The benchmark of issue 8, in pieces: `data` seeds and caches databases, `servers` starts
`credits serve` and the plain-SQL `floor` app, `load` drives clients, `measure` runs each
comparison in interleaved rounds, `live` the fan-out, `report` the table and the document.
"""
