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
/// the firmware writing to a console (SeaBIOS to the debug console, OpenSBI to the UART), which proves less. The probe
/// machine is the target's own (<see cref="KvmProbeMachine"/>); KVM runs guests of the host's own architecture only, so
/// another target's binary (qemu-system-aarch64 on an x86 host) is unusable without starting anything.
/// </summary>
public static class KvmProbe
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly Dictionary<string, bool> Results = new(StringComparer.Ordinal);

    /// <summary>True when a KVM guest of <paramref name="binary"/> gets going within the timeout. Cached per binary and kernel.</summary>
    public static async Task<bool> IsUsableAsync(string binary, string? kernel = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/dev/kvm"))
        {
            return false;
        }

        var resolved = QemuBinary.Resolve(binary).Path;
        if (QemuPackages.TargetOfBinary(resolved) is { } target && target != HostTarget())
        {
            return false;
        }

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
        // A board without a firmware the probe knows (aarch64's virt boots UEFI from a file the spec names) has nothing
        // to show without a kernel: unproven is unusable, as for a target no probe machine is written for.
        if (KvmProbeMachine.For(QemuPackages.TargetOfBinary(binary)) is not { } machine || (kernel is null && machine.Firmware.Count == 0 && machine.FirmwareMarker is null))
        {
            return false;
        }

        var directory = Directory.CreateTempSubdirectory("qtk-kvm-").FullName;
        var debugLog = Path.Combine(directory, "debugcon.log");
        var serialLog = Path.Combine(directory, "serial.log");
        string[] serial = ["-chardev", $"file,id=qtk-serial,path={Escape(serialLog)}", "-serial", "chardev:qtk-serial"];
        string[] boot = kernel is null
            ? machine.Firmware.Count == 0
                ? serial
                : ["-chardev", $"file,id=qtk-debugcon,path={Escape(debugLog)}", .. machine.Firmware.Select(a => a.Replace("{0}", "qtk-debugcon", StringComparison.Ordinal))]
            : ["-kernel", kernel, "-append", machine.Append, .. serial];
        string[] cpu = (accelerator == "kvm" ? machine.KvmCpu : machine.TcgCpu) is { } model ? ["-cpu", model] : [];
        try
        {
            QemuProbeSession session;
            try
            {
                session = await QemuProbeSession.StartAsync(binary,
                    ["-machine", machine.Machine, "-accel", accelerator, .. cpu, "-m", "256", "-no-reboot", .. boot],
                    timeout, cancellationToken).ConfigureAwait(false);
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
                    var started = kernel is not null ? LogContains(serialLog, "Linux version")
                        : machine.FirmwareMarker is { } marker ? LogContains(serialLog, marker)
                        : new FileInfo(debugLog) is { Exists: true, Length: > 0 };
                    if (started)
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

    private static string HostTarget() => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x86_64",
        System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
        var other => other.ToString().ToLowerInvariant(),
    };

    private static string Escape(string path) => path.Replace(",", ",,", StringComparison.Ordinal);

    private static bool LogContains(string log, string text)
    {
        try
        {
            return File.Exists(log) && File.ReadAllText(log).Contains(text, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
