"""Writing datasets: the atomic writer, the converters (``data convert``), re-splitting
(``data split``), publishing to a URI and opening compressed inputs."""
