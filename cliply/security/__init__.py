"""Guards for untrusted input: URL targets (SSRF) and file names."""

from cliply.security.filenames import safe_extension, safe_filename
from cliply.security.ssrf import BlockedURL, check_ip, check_url

__all__ = ["BlockedURL", "check_ip", "check_url", "safe_extension", "safe_filename"]
