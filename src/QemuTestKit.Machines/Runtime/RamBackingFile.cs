using System.Globalization;
using System.Runtime.InteropServices;
using QemuTestKit.Machines.CommandLine;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// A local start that loads a snapshot holding the guest's RAM (every recorded run, every replay, and ready states
/// without a <see cref="GuestMemoryFile"/>) maps the machine's default RAM from an empty sparse file, privately
/// (<c>memory-backend-file,id=&lt;default-ram-id&gt;,share=off</c>), instead of QEMU's anonymous memory.
/// </summary>
/// <remarks>
/// <para>
/// Why: QEMU 7.2 loads a snapshot's RAM page by page and checks every page the snapshot calls zero with
/// <c>buffer_is_zero</c>, so the load touches all of the guest's RAM. In anonymous memory without huge pages (see
/// <c>HugePageInheritance</c>) that is one page fault per 4 KiB: 65,536 for a 256 MiB guest. On a virtual machine
/// whose page faults are slow (measured on a 2-core Firecracker guest under PVM, kernel 6.18) a recorded start took
/// 0.89 s to answer QMP. From a file the kernel maps a fault's neighbours too and the zero pages come from the page
/// cache the previous start left there: 25,000 faults and 0.42 s. Writes stay private (copy on write), so the file
/// is never written and one file serves every run of that RAM size, concurrent ones included.
/// </para>
/// <para>
/// The migration stream does not change: the backend takes the default RAM's id (<c>pc.ram</c> for x86,
/// <c>mach-virt.ram</c> for arm <c>virt</c>), so the RAM block has the same name and size, and a snapshot or
/// recording made either way loads and replays the other way. (QEMU names the RAM block after the backend's id only
/// with <c>x-use-canonical-path-for-ramblock-id=off</c>, which its own default backend sets and machine types of 4.0
/// and older would not, so the backend sets it too.) That is why it is added to the process's arguments only,
/// never to the recorded ones a bundle keeps, like <see cref="StateDriveIo"/>. Correctness does not depend on the file
/// being zero: the load writes every page the snapshot holds and clears any page it calls zero that is not.
/// </para>
/// <para>
/// Left out: starts that load no snapshot (a cold boot would see the file's contents), a gdb stub (reverse steps
/// reload snapshots; kept as proven, as <see cref="StateDriveIo"/> does), command lines that choose their own memory
/// (<c>memory-backend</c>, <c>-mem-path</c>, <c>-mem-prealloc</c>, <c>-numa</c>), and a cache directory on tmpfs
/// (there the file's pages would take real memory).
/// </para>
/// </remarks>
internal static class RamBackingFile
{
    private const long TmpfsMagic = 0x01021994;

    /// <summary>
    /// The arguments to start QEMU with: <paramref name="arguments"/>, with the default RAM mapped from a file where that
    /// applies. <paramref name="defaultRamId"/> is the machine type's <c>default-ram-id</c> (null: leave them as they are).
    /// </summary>
    public static IReadOnlyList<string> ForLocalStart(IReadOnlyList<string> arguments, string? defaultRamId, string? directory = null)
    {
        if (defaultRamId is null || !LoadsSnapshot(arguments) || GuestMemoryFile.ChoosesItsOwnMemory(arguments)
            || Index(arguments, "-machine") is not (>= 0 and var machine) || Index(arguments, "-m") is not (>= 0 and var memory)
            || MiB(arguments[memory + 1]) is not { } mib)
        {
            return arguments;
        }

        var file = EnsureFile(directory ?? Path.Combine(Introspection.Catalog.CatalogCache.DefaultDirectory(), "ram"), mib);
        if (file is null)
        {
            return arguments;
        }

        var started = arguments.ToList();
        started[machine + 1] = QemuOptionValue.Join(started[machine + 1], ("memory-backend", defaultRamId));
        started.InsertRange(memory + 2, ["-object", QemuOptionValue.Join("memory-backend-file", ("id", defaultRamId),
            ("size", string.Create(CultureInfo.InvariantCulture, $"{mib}M")), ("mem-path", file), ("share", "off"),
            ("x-use-canonical-path-for-ramblock-id", "off"))]);
        return started;
    }

    private static bool LoadsSnapshot(IReadOnlyList<string> arguments)
    {
        if (arguments.Contains("-gdb"))
        {
            return false;
        }

        if (arguments.Contains("-loadvm"))
        {
            return true;
        }

        // A replay from a checkpoint loads it through rrsnapshot; a recording with rrsnapshot (and no -loadvm) saves it.
        var icount = Index(arguments, "-icount");
        return icount >= 0 && arguments[icount + 1].Contains("rr=replay", StringComparison.Ordinal)
            && arguments[icount + 1].Contains("rrsnapshot=", StringComparison.Ordinal);
    }

    /// <summary>The index of the one occurrence of <paramref name="option"/> that has a value after it, else -1.</summary>
    private static int Index(IReadOnlyList<string> arguments, string option)
    {
        var found = -1;
        for (var i = 0; i < arguments.Count - 1; i++)
        {
            if (arguments[i] == option)
            {
                if (found >= 0)
                {
                    return -1;
                }

                found = i;
            }
        }

        return found;
    }

    /// <summary>The size of a <c>-m</c> value in whole MiB, as <see cref="QemuCommandLine"/> writes it (<c>256M</c>); else null.</summary>
    private static long? MiB(string value) =>
        value.EndsWith('M') && long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var mib) && mib > 0
            ? mib
            : null;

    /// <summary>
    /// The sparse file of <paramref name="mib"/> MiB in <paramref name="directory"/>, made (atomically) when missing;
    /// null when it cannot be made or would live on tmpfs.
    /// </summary>
    private static string? EnsureFile(string directory, long mib)
    {
        try
        {
            Directory.CreateDirectory(directory);
            if (OnTmpfs(directory))
            {
                return null;
            }

            var file = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"zero-{mib}M"));
            var length = mib << 20;
            if (File.Exists(file) && new FileInfo(file).Length == length)
            {
                return file;
            }

            var staging = $"{file}.{Guid.NewGuid():N}.tmp";
            try
            {
                using (var stream = new FileStream(staging, FileMode.CreateNew, FileAccess.Write))
                {
                    stream.SetLength(length);
                }

                File.Move(staging, file, overwrite: true);
            }
            finally
            {
                File.Delete(staging); // Gone after the move; left by a failed one, where it would pile up with every start.
            }

            return file;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // QEMU's own anonymous memory: slower to load into, never wrong.
        }
    }

    private static bool OnTmpfs(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return true; // Unknown file system: keep QEMU's own memory.
        }

        var buffer = new byte[120]; // struct statfs; f_type is its first field
        try
        {
            return NativeMethods.statfs(System.Text.Encoding.UTF8.GetBytes(directory + "\0"), buffer) != 0 || BitConverter.ToInt64(buffer, 0) == TmpfsMagic;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return true;
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int statfs(byte[] path, byte[] buffer);
    }
}
