/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Rust test binaries under Wine 8.
 *
 * Rust's std (1.78+) gets random bytes from `ProcessPrng` in bcryptprimitives.dll, which
 * Debian's Wine 8 does not ship, so every Rust binary fails to load. This DLL exports
 * `ProcessPrng` and implements it with `SystemFunction036` (RtlGenRandom) from advapi32,
 * which Wine has. Test use only: it is never shipped with the crate.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
