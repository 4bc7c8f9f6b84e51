"""``headstart app``: make a classifier in a web page, without code (projects on disk, training, results, try it,
export). Everything it shows ships in the package."""
