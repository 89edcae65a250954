using System.Runtime.InteropServices;

namespace QemuTestKit.Introspection.Processes;

/// <summary>
/// Starts QEMU with transparent huge pages off (Linux <c>PR_SET_THP_DISABLE</c>, which a child inherits across fork
/// and exec). QEMU asks for huge pages on all guest RAM (<c>MADV_HUGEPAGE</c>), so loading a snapshot into fresh RAM
/// zeroes a whole 2 MiB page for every 4 KiB page the snapshot writes: a 256 MiB guest whose snapshot holds 55 MiB
/// touched every huge page, and on a virtual machine (where first touches of memory are slow) QEMU took 0.4-0.8 s
/// to answer QMP after <c>-loadvm</c> instead of 0.12-0.17 s with 4 KiB pages. That is the start of every recorded
/// run and of every replay. Runs whose RAM is a file (<c>GuestMemoryFile</c>, <c>RamBackingFile</c>) never used huge pages.
/// Machines differ: on a 2-core VM under nested paging (PVM) each 4 KiB fault was the slow part (the same load took
/// 0.9 s without huge pages and 0.2-0.6 s with them); <c>RamBackingFile</c> takes both out of snapshot loads (0.4 s there).
/// </summary>
/// <remarks>
/// The flag belongs to the whole process, so it is set only around the start of a child, on the one thread that
/// starts them (<see cref="ProcessSpawner"/>), and restored after. Something else this process starts meanwhile may
/// inherit it too, which costs it nothing but huge pages. Where the call is refused (an old kernel, a seccomp
/// profile), QEMU starts as before.
/// </remarks>
internal static partial class HugePageInheritance
{
    private const int PrSetThpDisable = 41;
    private const int PrGetThpDisable = 42;

    public static T WithoutHugePages<T>(Func<T> start)
    {
        if (!OperatingSystem.IsLinux() || Prctl(PrGetThpDisable, 0, 0, 0, 0) != 0 || Prctl(PrSetThpDisable, 1, 0, 0, 0) != 0)
        {
            // Already off (nothing to restore), or the kernel will not say or change it.
            return start();
        }

        try
        {
            return start();
        }
        finally
        {
            _ = Prctl(PrSetThpDisable, 0, 0, 0, 0);
        }
    }

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
