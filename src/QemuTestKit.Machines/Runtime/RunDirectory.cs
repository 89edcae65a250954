using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Console;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// The private directory of one running machine (mode 0700): its Unix sockets, pid file, logs and images.
/// An <c>owner</c> file names the process that created it (pid and start time), so <see cref="SweepStale"/> can
/// later remove directories whose owner died without cleaning up, killing a QEMU that is still running there.
/// Paths stay short on purpose: a Unix socket path is limited to <see cref="UnixSocketPath.MaxBytes"/> bytes.
/// </summary>
/// <remarks>
/// The root is, in this order: the root passed to <see cref="Create"/>, the environment variable
/// <c>QEMUTESTKIT_RUN_ROOT</c>, <c>$XDG_RUNTIME_DIR/qemutestkit</c>, <c>/tmp/qemutestkit-&lt;uid&gt;</c>.
/// The root is created with mode 0700 and must belong to this user.
/// </remarks>
public sealed class RunDirectory : IDisposable
{
    public const string OwnerFileName = "owner";
    public const string PidFileName = "qemu.pid";
    public const string QmpSocketName = "qmp.sock";
    public const string GdbSocketName = "gdb.sock";
    public const string StderrLogName = "stderr.log";

    /// <summary>Environment variable that overrides the default root.</summary>
    public const string RootVariable = "QEMUTESTKIT_RUN_ROOT";

    private const UnixFileMode PrivateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const int MaxNameCharacters = 12;

    // A directory without a readable owner file may be one another process is creating right now.
    private static readonly TimeSpan s_ownerlessGrace = TimeSpan.FromMinutes(1);

    private readonly List<IDisposable> _held = [];
    private int _disposed;

    private RunDirectory(string root, string path)
    {
        Root = root;
        Path = path;
    }

    /// <summary>The root this directory was created under.</summary>
    public string Root { get; }

    /// <summary>Absolute path of the directory.</summary>
    public string Path { get; }

    public string QmpSocket => Socket(QmpSocketName);

    public string GdbSocket => Socket(GdbSocketName);

    /// <summary>Where QEMU's pid is recorded (by whoever starts it) for <see cref="SweepStale"/>.</summary>
    public string PidFile => File(PidFileName);

    public string StderrLog => File(StderrLogName);

    public string OwnerFile => File(OwnerFileName);

    /// <summary>The default root: <c>QEMUTESTKIT_RUN_ROOT</c>, else <c>$XDG_RUNTIME_DIR/qemutestkit</c>, else <c>/tmp/qemutestkit-&lt;uid&gt;</c>.</summary>
    public static string DefaultRoot
    {
        get
        {
            var configured = Environment.GetEnvironmentVariable(RootVariable);
            if (!string.IsNullOrEmpty(configured))
            {
                return System.IO.Path.GetFullPath(configured);
            }

            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            if (!string.IsNullOrEmpty(runtime) && System.IO.Path.IsPathRooted(runtime) && Directory.Exists(runtime))
            {
                return System.IO.Path.Combine(runtime, "qemutestkit");
            }

            return System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"qemutestkit-{RunDirectoryNative.EffectiveUserId()}");
        }
    }

    /// <summary>
    /// Creates a new run directory named after <paramref name="name"/> (shortened) plus a random suffix.
    /// </summary>
    /// <param name="name">A hint for the directory name, for example the machine name.</param>
    /// <param name="root">Where to create it; <see cref="DefaultRoot"/> when null.</param>
    /// <exception cref="RunDirectoryException">The root is unusable, or socket paths under it would be too long.</exception>
    public static RunDirectory Create(string? name = null, string? root = null)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("run directories need a Unix system");
        }

        root = System.IO.Path.GetFullPath(root ?? DefaultRoot).TrimEnd('/');
        if (root.Length == 0)
        {
            root = "/";
        }

        SweepOnce(root);

        var suffix = Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        var prefix = ShortName(name);
        var candidates = prefix.Length == 0 ? new[] { suffix } : new[] { $"{prefix}-{suffix}", suffix };

        // Socket names are checked against the longest one a machine uses ("serial0.sock" for consoles 0-9).
        string? path = null;
        foreach (var candidate in candidates)
        {
            var probe = System.IO.Path.Combine(root, candidate, "serial0.sock");
            if (UnixSocketPath.Fits(probe))
            {
                path = System.IO.Path.Combine(root, candidate);
                break;
            }
        }

        if (path is null)
        {
            var probe = System.IO.Path.Combine(root, suffix, "serial0.sock");
            throw new RunDirectoryException(TooLongMessage(probe));
        }

        PrepareRoot(root);
        try
        {
            Directory.CreateDirectory(path, PrivateMode);
            System.IO.File.SetUnixFileMode(path, PrivateMode);
            WriteOwner(System.IO.Path.Combine(path, OwnerFileName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(path);
            throw new RunDirectoryException($"cannot create the run directory {path}: {e.Message}", e);
        }

        return new RunDirectory(root, path);
    }

    /// <summary>Path of a file in this directory.</summary>
    public string File(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return System.IO.Path.Combine(Path, name);
    }

    /// <summary>Path of a Unix socket in this directory, checked against <see cref="UnixSocketPath.MaxBytes"/>.</summary>
    /// <exception cref="RunDirectoryException">The path is too long for a Unix socket.</exception>
    public string Socket(string name)
    {
        var path = File(name);
        EnsureSocketPathFits(path);
        return path;
    }

    /// <summary>Base path of serial console <paramref name="index"/>'s pipe pair (<c>serial0</c>: <c>serial0.in</c> and <c>serial0.out</c>).</summary>
    public string SerialPort(int index) => File(SerialPortName(index));

    /// <summary>The file name of serial console <paramref name="index"/>'s pipe pair base (<c>serial0</c>, <c>serial1</c>, ...).</summary>
    public static string SerialPortName(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return string.Create(CultureInfo.InvariantCulture, $"serial{index}");
    }

    /// <summary>Socket of serial console <paramref name="index"/> (<c>serial0.sock</c>, <c>serial1.sock</c>, ...), the transport of older bundles.</summary>
    public string SerialSocket(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return Socket(string.Create(CultureInfo.InvariantCulture, $"serial{index}.sock"));
    }

    /// <summary>Records QEMU's pid in <see cref="PidFile"/>, so a sweep after a crash of this process can kill it.</summary>
    public void WritePid(int pid) =>
        System.IO.File.WriteAllText(PidFile, pid.ToString(CultureInfo.InvariantCulture) + "\n");

    /// <summary>Fails with a clear message when <paramref name="path"/> cannot be bound as a Unix socket.</summary>
    /// <exception cref="RunDirectoryException">The path is longer than <see cref="UnixSocketPath.MaxBytes"/> bytes.</exception>
    public static void EnsureSocketPathFits(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!UnixSocketPath.Fits(path))
        {
            throw new RunDirectoryException(TooLongMessage(path));
        }
    }

    /// <summary>
    /// Removes what earlier, killed runs left behind (run directories whose owner is gone, and their QEMUs) the first
    /// time this process creates a run directory under <paramref name="root"/>: whatever starts a machine there (a local
    /// start, a container, a replay) sweeps it.
    /// </summary>
    private static void SweepOnce(string root)
    {
        lock (SweptRoots)
        {
            if (!SweptRoots.Add(root))
            {
                return;
            }
        }

        SweepStale(root);
    }

    private static readonly HashSet<string> SweptRoots = new(StringComparer.Ordinal);

    /// <summary>
    /// Removes run directories under <paramref name="root"/> whose owner process is gone (its pid does not exist, or
    /// was reused by a process with another start time). Before removing one, kills the QEMU recorded in its
    /// <c>qemu.pid</c> if that process still runs, is a QEMU (its command line contains "qemu") and belongs to that
    /// directory (its command line or working directory names the directory). Directories of live owners are kept.
    /// </summary>
    /// <returns>The directories removed.</returns>
    public static IReadOnlyList<string> SweepStale(string? root = null)
    {
        root = System.IO.Path.GetFullPath(root ?? DefaultRoot);
        var removed = new List<string>();
        if (!Directory.Exists(root))
        {
            return removed;
        }

        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories(root).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return removed;
        }

        foreach (var directory in entries)
        {
            try
            {
                if (new DirectoryInfo(directory).LinkTarget is not null || !IsStale(directory))
                {
                    continue;
                }

                KillRecordedQemu(directory);
                Directory.Delete(directory, recursive: true);
                removed.Add(directory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Someone else is sweeping or using it; leave it for the next sweep.
            }
        }

        return removed;
    }

    /// <summary>
    /// Keeps <paramref name="resource"/> (a lock on a file QEMU uses through this directory) until QEMU is gone: the
    /// machine's clean-up releases it whether or not the directory is kept, and so does <see cref="Dispose"/>.
    /// </summary>
    internal void Hold(IDisposable resource)
    {
        lock (_held)
        {
            _held.Add(resource);
        }
    }

    /// <summary>Releases what <see cref="Hold"/> kept.</summary>
    internal void ReleaseHeld()
    {
        IDisposable[] held;
        lock (_held)
        {
            held = [.. _held];
            _held.Clear();
        }

        foreach (var resource in held)
        {
            resource.Dispose();
        }
    }

    /// <summary>Deletes the directory and everything in it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        ReleaseHeld();
        TryDelete(Path);
    }

    internal static (int Pid, long StartTime)? ReadOwner(string ownerFile)
    {
        string text;
        try
        {
            text = System.IO.File.ReadAllText(ownerFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length >= 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return (pid, start);
        }

        return null;
    }

    /// <summary>Start time of a process (field 22 of <c>/proc/PID/stat</c>, clock ticks since boot), or null when it is gone or a zombie.</summary>
    internal static long? ProcessStartTime(int pid)
    {
        string stat;
        try
        {
            stat = System.IO.File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
        if (fields.Length < 20 || fields[0] is "Z" or "X" or "x")
        {
            return null;
        }

        return long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    private static bool IsStale(string directory)
    {
        var owner = ReadOwner(System.IO.Path.Combine(directory, OwnerFileName));
        if (owner is null)
        {
            return DateTime.UtcNow - Directory.GetLastWriteTimeUtc(directory) > s_ownerlessGrace;
        }

        return ProcessStartTime(owner.Value.Pid) != owner.Value.StartTime;
    }

    private static void KillRecordedQemu(string directory)
    {
        string text;
        try
        {
            text = System.IO.File.ReadAllText(System.IO.Path.Combine(directory, PidFileName)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 1 || pid == Environment.ProcessId
            || !IsQemuOf(pid, directory))
        {
            return;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
            process.WaitForExit(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Gone in the meantime, or not ours to kill.
        }
    }

    private static bool IsQemuOf(int pid, string directory)
    {
        string cmdline;
        try
        {
            cmdline = System.IO.File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/cmdline")).Replace('\0', ' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        if (!cmdline.Contains("qemu", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (cmdline.Contains(directory, StringComparison.Ordinal))
        {
            return true;
        }

        try
        {
            var cwd = new FileInfo(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/cwd")).LinkTarget;
            return cwd is not null && string.Equals(cwd.TrimEnd('/'), directory.TrimEnd('/'), StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void PrepareRoot(string root)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("run directories need a Unix system");
        }

        try
        {
            if (!Directory.Exists(root))
            {
                var parent = System.IO.Path.GetDirectoryName(root);
                if (parent is not null)
                {
                    Directory.CreateDirectory(parent);
                }

                Directory.CreateDirectory(root, PrivateMode);
            }

            var info = new DirectoryInfo(root);
            if (info.LinkTarget is not null)
            {
                throw new RunDirectoryException($"the run root {root} is a symbolic link; refusing to use it (set {RootVariable} to a private directory)");
            }

            var owner = RunDirectoryNative.OwnerOf(root);
            var me = RunDirectoryNative.EffectiveUserId();
            if (owner is { } uid && uid != me)
            {
                throw new RunDirectoryException($"the run root {root} belongs to uid {uid}, not to this user (uid {me}); refusing to use it (set {RootVariable} to a private directory)");
            }

            if (System.IO.File.GetUnixFileMode(root) != PrivateMode)
            {
                System.IO.File.SetUnixFileMode(root, PrivateMode);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunDirectoryException($"cannot prepare the run root {root}: {e.Message} (set {RootVariable} to a writable private directory)", e);
        }
    }

    private static void WriteOwner(string ownerFile)
    {
        var start = ProcessStartTime(Environment.ProcessId)
            ?? throw new RunDirectoryException("cannot read this process's start time from /proc/self/stat");
        var temporary = ownerFile + ".tmp";
        System.IO.File.WriteAllText(temporary, string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId} {start}\n"));
        System.IO.File.Move(temporary, ownerFile, overwrite: true);
    }

    private static string ShortName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return string.Empty;
        }

        var builder = new StringBuilder(MaxNameCharacters);
        foreach (var c in name)
        {
            if (builder.Length == MaxNameCharacters)
            {
                break;
            }

            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_');
        }

        return builder.ToString();
    }

    private static string TooLongMessage(string path) =>
        UnixSocketPath.TooLong(path, $"Use a shorter run root (MachineStartOptions.RunRoot or the environment variable {RootVariable}, for example /tmp/qtk).");

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a later SweepStale removes what is left once this process is gone.
        }
    }
}

/// <summary>A run directory cannot be created or used; the message says why and what to change.</summary>
public sealed class RunDirectoryException : QemuTestKitException
{
    public RunDirectoryException(string message, Exception? inner = null) : base(message, inner) { }
}
