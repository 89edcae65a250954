using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using QemuTestKit.Machines.CommandLine;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// How a local QEMU reads its state image. A start from a snapshot loads the whole vmstate from it (about 100 MiB for the
/// test guests) in QEMU's 32 KiB reads; with the default thread pool each read is a round trip through a worker thread and
/// the main loop, and the load took 0.24-0.75 s; with <c>aio=io_uring</c> it took 0.17 s every time (the replay of a
/// test-guest bundle to QMP's first answer, 5 alternating runs each). The option is added to the process's arguments only,
/// never to the recorded ones a bundle keeps, because where a bundle replays decides whether io_uring is there: it needs a
/// QEMU built with it and a kernel that lets the process use it (Docker's default seccomp profile refuses it).
/// </summary>
internal static class StateDriveIo
{
    private const int IoUringSetupSyscall = 425; // the same number on every Linux architecture
    private const int IoUringParamsSize = 120;
    private const int LinkedLibraryWindow = 4 << 20;
    private static readonly byte[] LibUring = Encoding.ASCII.GetBytes("\0liburing.so.");
    private static readonly ConcurrentDictionary<string, bool> BinaryLinksLibUring = new(StringComparer.Ordinal);
    private static readonly Lazy<bool> KernelAllowsIoUring = new(ProbeKernel);

    /// <summary>
    /// The arguments to start <paramref name="binary"/> with: <paramref name="arguments"/>, with io_uring on the state drive
    /// where both allow it. Not under a gdb stub: reverse steps load snapshots again and again in the middle of a replay,
    /// a path QEMU 7.2 has stalled on under load before (reverse-stepi tests, x86 and aarch64) and did twice in a stress
    /// run with io_uring; whether io_uring adds to that is unproven, and a debugging session gains nothing from a faster
    /// first load.
    /// </summary>
    public static IReadOnlyList<string> ForLocalStart(IReadOnlyList<string> arguments, string binary)
    {
        var drive = StateDriveIndex(arguments);
        if (drive < 0 || arguments[drive].Contains("aio=", StringComparison.Ordinal) || arguments.Contains("-gdb") || !IoUringUsable(binary))
        {
            return arguments;
        }

        var fast = arguments.ToArray();
        fast[drive] = QemuOptionValue.Join(fast[drive], ("aio", "io_uring"));
        return fast;
    }

    /// <summary>Whether a QEMU started from <paramref name="binary"/> on this host can open a drive with <c>aio=io_uring</c>.</summary>
    public static bool IoUringUsable(string binary) =>
        OperatingSystem.IsLinux() && KernelAllowsIoUring.Value && BinaryLinksLibUring.GetOrAdd(binary, LinksLibUring);

    private static int StateDriveIndex(IReadOnlyList<string> arguments)
    {
        var id = $"id={QemuCommandLine.StateDriveId},";
        for (var i = 1; i < arguments.Count; i++)
        {
            if (arguments[i - 1] == "-drive" && arguments[i].Contains(id, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// A QEMU built with io_uring links liburing, and the dynamic string table that names it sits near the start of the
    /// file; a static build, or any other doubt, keeps the thread pool (slower, never wrong).
    /// </summary>
    private static bool LinksLibUring(string binary)
    {
        try
        {
            using var file = File.OpenHandle(binary, FileMode.Open, FileAccess.Read);
            var window = new byte[(int)Math.Min(LinkedLibraryWindow, RandomAccess.GetLength(file))];
            var read = RandomAccess.Read(file, window, 0);
            return window.AsSpan(0, read).IndexOf(LibUring) >= 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>io_uring_setup succeeds here: no seccomp filter (containers), sysctl or old kernel refuses it.</summary>
    private static bool ProbeKernel()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            var fd = NativeMethods.syscall(IoUringSetupSyscall, 1, new byte[IoUringParamsSize]);
            if (fd < 0)
            {
                return false;
            }

            _ = NativeMethods.close((int)fd);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern long syscall(long number, uint entries, byte[] parameters);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int close(int fd);
    }
}
