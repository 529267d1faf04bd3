"""The PNG charts: a version's three charts (`version_charts`), segments over time
(`over_time_charts`), the shared look (`style`) and drawing them in a second process
(`worker`). This package's own namespace stays free of matplotlib: `CHARTS` lists the
charts for readers that only need their names."""

CHARTS = ("elbow", "clusters", "profiles")  # a version's charts; file names are f"{name}.png"
