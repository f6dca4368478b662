"""Running tasks on a Dask cluster: the app-side executor (executor.py), what runs on the
workers (remote.py), and the choice of executors (executors.py)."""

# A scheduler address the dask executor takes (also the settings schema's pattern).
ADDRESS_PATTERN = r"^((tcp|tls)://[^\s/]+|local:([1-9]|[1-5][0-9]|6[0-4]))$"
ADDRESS_HELP = "tcp://host:8786, tls://host:8786, or local:N for N local worker processes (1-64)"
# Why a server without a token has no cluster (serve's options, the settings, an add).
WITHOUT_TOKEN = (
    "a cluster runs code on other machines, so it is refused while the server runs without "
    "a token (--no-auth)"
)
