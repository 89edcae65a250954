using System.Text.Json.Nodes;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Whether KVM really runs a guest here. The presence of /dev/kvm proves nothing: on this project's hosts SeaBIOS and
/// the kernel's real-mode setup run under KVM, and then the guest spins in the host kernel without printing another
/// byte. So the probe boots a Linux kernel (the machine's own) under KVM with early printk and waits for
/// "Linux version", which the kernel prints only once it runs in its final mode. Without a kernel it falls back to
/// SeaBIOS writing to the debug console, which proves less (the real-mode part only).
/// </summary>
public static class KvmProbe
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly Dictionary<string, bool> Results = new(StringComparer.Ordinal);

    /// <summary>True when a KVM guest of <paramref name="binary"/> (an x86 QEMU) gets going within the timeout. Cached per binary and kernel.</summary>
    public static async Task<bool> IsUsableAsync(string binary, string? kernel = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/dev/kvm"))
        {
            return false;
        }

        var resolved = QemuBinary.Resolve(binary).Path;
        var key = $"{resolved}|{kernel}";
        await Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!Results.TryGetValue(key, out var usable))
            {
                usable = await GuestRunsAsync(resolved, "kvm", kernel, timeout ?? TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
                Results[key] = usable;
            }

            return usable;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Boots under <paramref name="accelerator"/> and reports whether the guest got far enough in time.</summary>
    internal static async Task<bool> GuestRunsAsync(string binary, string accelerator, string? kernel, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("qtk-kvm-").FullName;
        var debugLog = Path.Combine(directory, "debugcon.log");
        var serialLog = Path.Combine(directory, "serial.log");
        string[] boot = kernel is null
            ? []
            : ["-kernel", kernel, "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1",
               "-chardev", $"file,id=qtk-serial,path={serialLog.Replace(",", ",,", StringComparison.Ordinal)}", "-serial", "chardev:qtk-serial"];
        try
        {
            QemuProbeSession session;
            try
            {
                session = await QemuProbeSession.StartAsync(binary,
                [
                    "-machine", "pc", "-accel", accelerator, "-m", "256", "-no-reboot",
                    "-chardev", $"file,id=qtk-debugcon,path={debugLog.Replace(",", ",,", StringComparison.Ordinal)}",
                    "-device", "isa-debugcon,iobase=0x402,chardev=qtk-debugcon",
                    .. boot,
                ], timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (QemuProbeException)
            {
                // "Could not access KVM kernel module", "failed to initialize kvm", or no such machine: not usable.
                return false;
            }

            await using (session.ConfigureAwait(false))
            {
                await session.Qmp.ExecuteAsync("cont", new JsonObject(), cancellationToken: cancellationToken).ConfigureAwait(false);
                var deadline = DateTime.UtcNow + timeout;
                while (DateTime.UtcNow < deadline)
                {
                    if (kernel is null ? new FileInfo(debugLog) is { Exists: true, Length: > 0 } : KernelStarted(serialLog))
                    {
                        return true;
                    }

                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                }

                return false;
            }
        }
        catch (QmpException)
        {
            return false;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static bool KernelStarted(string serialLog)
    {
        try
        {
            return File.Exists(serialLog) && File.ReadAllText(serialLog).Contains("Linux version", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
