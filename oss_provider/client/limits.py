"""OSS limits (oss-api.md section 3) in one place."""

MIN_PART_SIZE = 100 * 1024  # 102400 B; enforced by OSS at Complete for every part but the last
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
MIN_PART_NUMBER = 1
MAX_PART_NUMBER = 10_000
MAX_KEY_BYTES = 1023
MAX_LIST_PAGE = 1000  # max-parts / max-uploads
MAX_PUT_OBJECT_SIZE = 5 * 1024**3
MAX_PRESIGN_EXPIRES_V4 = 604_800
CLOCK_SKEW_SECONDS = 15 * 60
