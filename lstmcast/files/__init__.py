"""Safe file handling every writer and reader shares: one writer per output (a lock), atomic replacement of only what
lstmcast wrote, and bounded reads of regular files. Below every domain package, so runs, dumps and reports use it alike."""
