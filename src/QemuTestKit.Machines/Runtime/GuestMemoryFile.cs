using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// A normal ready state keeps the guest's RAM in a file of its own (<c>ram</c>) instead of inside the snapshot. The
/// boot that prepares it maps that file shared (<c>memory-backend-file,share=on</c>), so the guest's RAM is the file,
/// and saves the snapshot with QEMU's <c>x-ignore-shared</c> migration capability: the snapshot holds only device
/// state (under 1 MiB instead of ~100 MiB for a 512 MiB Debian guest). A start maps the file private
/// (<c>share=off</c>: copy on write, the file is never written) and loads the snapshot; RAM then comes in page by page
/// as the guest touches it, instead of QEMU reading all of it before the guest runs. Measured on the distro guest:
/// QEMU answers QMP after loading in ~0.15 s instead of ~0.32 s.
/// </summary>
/// <remarks>
/// QEMU 7.2 takes the capability only over QMP (not as <c>-global migration.x-ignore-shared</c>), and a snapshot saved
/// with it must be loaded with it (the RAM section then carries each block's address). So such a start begins paused,
/// sets the capability, loads the snapshot and continues; every run with a memory file has the capability on from its
/// start, so its own checkpoints save and load consistently. A snapshot saved while the file is shared holds no RAM:
/// the guest must not run again after it (the file would move on), so saving one stops the guest for good.
/// </remarks>
internal static class GuestMemoryFile
{
    /// <summary>The file's name, in a run directory and in a ready state.</summary>
    public const string FileName = "ram";

    private const int PageSize = 4096;

    /// <summary>
    /// Whether a ready state of <paramref name="spec"/> on <paramref name="catalog"/>'s QEMU keeps its RAM in a file: on
    /// x86 only, and not when the spec names its own memory backend (or <c>-mem-path</c>). Arm and RISC-V boards load <c>-kernel</c>,
    /// <c>-initrd</c> and the device tree as ROM blobs that QEMU copies into guest RAM at every reset, the machine's
    /// first one included; a snapshot without RAM does not undo that, so the guest resumed on top of pages the booted
    /// kernel had long reused (measured: aarch64 and riscv64 starts never answered). QEMU skips that copy only for an
    /// incoming migration (its commit 355477f8, "migration: do not rom_reset() during incoming migration"), which a
    /// snapshot load is not. x86 boots through fw_cfg and the option ROMs are RAM blocks of their own, saved as usual.
    /// </summary>
    public static bool Applies(Specs.MachineSpec spec, Introspection.Catalog.QemuCatalog catalog) =>
        catalog.Target is "x86_64" or "i386"
        && !spec.MachineOptions.ContainsKey("memory-backend")
        && !ChoosesItsOwnMemory(spec.ExtraArguments);

    /// <summary>
    /// Whether <paramref name="arguments"/> choose the guest's memory themselves (a memory backend, <c>-mem-path</c>,
    /// <c>-mem-prealloc</c>, or NUMA nodes, whose memory QEMU refuses to combine with <c>-machine memory-backend</c>), so
    /// that no memory file of ours, shared (this) or private (<see cref="RamBackingFile"/>), may take the default RAM's place.
    /// </summary>
    public static bool ChoosesItsOwnMemory(IEnumerable<string> arguments) =>
        arguments.Any(a => a.Contains("memory-backend", StringComparison.Ordinal) || a is "-mem-path" or "-mem-prealloc" or "-numa");

    /// <summary>Turns on <c>x-ignore-shared</c>; before any snapshot of the run is saved or loaded.</summary>
    public static Task IgnoreSharedMemoryAsync(QmpClient qmp, CancellationToken cancellationToken) =>
        qmp.ExecuteAsync("migrate-set-capabilities", new JsonObject
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "x-ignore-shared", ["state"] = true }),
        }, cancellationToken: cancellationToken);

    /// <summary>Loads <paramref name="snapshot"/> into a machine started paused, and lets it run when <paramref name="resume"/>.</summary>
    /// <exception cref="InvalidOperationException">QEMU could not load it (its message).</exception>
    public static async Task LoadSnapshotAsync(QmpClient qmp, string snapshot, bool resume, CancellationToken cancellationToken)
    {
        var answer = await qmp.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = $"loadvm {snapshot}" },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        if (answer?.GetValueKind() == System.Text.Json.JsonValueKind.String && answer.GetValue<string>() is { } text && QemuMachine.IsHumanMonitorError(text))
        {
            throw new InvalidOperationException($"QEMU could not load snapshot '{snapshot}' with the guest's RAM in a file: {text.Trim()}");
        }

        if (resume)
        {
            await qmp.ExecuteAsync("cont", cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Copies the memory file to a new file holding only its non-zero pages (the guest zeroes what it frees with
    /// <c>init_on_free=1</c>, so most of a 512 MiB file is holes afterwards); on failure no destination is left.
    /// </summary>
    public static void CopyNonZeroPages(string source, string destination)
    {
        using var input = File.OpenHandle(source, FileMode.Open, FileAccess.Read);
        var length = RandomAccess.GetLength(input);
        var output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.ReadWrite);
        try
        {
            using (output)
            {
                var buffer = new byte[1 << 20];
                for (var offset = 0L; offset < length;)
                {
                    var read = RandomAccess.Read(input, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - offset)), offset);
                    if (read == 0)
                    {
                        throw new IOException($"the memory file {source} became shorter while it was copied");
                    }

                    WriteNonZeroPages(output, buffer.AsSpan(0, read), offset);
                    offset += read;
                }

                RandomAccess.SetLength(output, length);
            }
        }
        catch
        {
            File.Delete(destination);
            throw;
        }
    }

    private static void WriteNonZeroPages(Microsoft.Win32.SafeHandles.SafeFileHandle output, ReadOnlySpan<byte> chunk, long offset)
    {
        var runStart = -1;
        for (var page = 0; page < chunk.Length; page += PageSize)
        {
            var nonZero = chunk.Slice(page, Math.Min(PageSize, chunk.Length - page)).IndexOfAnyExcept((byte)0) >= 0;
            if (nonZero && runStart < 0)
            {
                runStart = page;
            }
            else if (!nonZero && runStart >= 0)
            {
                RandomAccess.Write(output, chunk[runStart..page], offset + runStart);
                runStart = -1;
            }
        }

        if (runStart >= 0)
        {
            RandomAccess.Write(output, chunk[runStart..], offset + runStart);
        }
    }
}
