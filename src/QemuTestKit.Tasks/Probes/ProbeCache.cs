using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Tasks.Probes;

/// <summary>
/// What validation asks QEMU beyond the catalog, cached next to the catalogs so that a no-op build starts no QEMU:
/// the device/bus tree of a machine type and the buses a controller brings to it (for bus checks), keyed by the binary's identity; and whether KVM runs a guest
/// on this host (only asked for machines that want KVM), keyed by the binary, the kernel and the host's boot.
/// </summary>
internal sealed class ProbeCache
{
    private readonly string _directory;

    public ProbeCache(string? directory = null)
    {
        _directory = directory ?? CatalogCache.DefaultDirectory();
    }

    /// <summary>The device tree of <paramref name="machineType"/> (<see cref="DeviceTreeCache"/>), or null when QEMU could not build it (bus checks are then skipped).</summary>
    public async Task<MachineDeviceTree?> DeviceTreeAsync(QemuCatalog catalog, string machineType, Action<string> note, CancellationToken cancellationToken)
    {
        try
        {
            return await new DeviceTreeCache(_directory).GetAsync(catalog, machineType, cancellationToken).ConfigureAwait(false);
        }
        catch (QemuTestKitException e)
        {
            note($"the device tree of machine type '{machineType}' could not be read, so bus checks are skipped: {e.Message}");
            return null;
        }
    }

    /// <summary>The bus types a device of <paramref name="deviceType"/> brings to <paramref name="machineType"/>
    /// (<see cref="ControllerBuses"/>); none when QEMU refuses the device there alone.</summary>
    public async Task<IReadOnlyList<string>> ControllerBusesAsync(QemuCatalog catalog, string machineType, string deviceType, Action<string> note,
        CancellationToken cancellationToken)
    {
        var file = FileFor("controllerbuses", catalog, $"{machineType}|{deviceType}");
        if (Read(file, ProbeJsonContext.Default.ControllerBusesEntry) is { } cached && cached.Binary == catalog.BinaryIdentity
            && cached.MachineType == machineType && cached.DeviceType == deviceType)
        {
            return cached.BusTypes;
        }

        IReadOnlyList<string> busTypes;
        try
        {
            busTypes = await ControllerBuses.ReadAsync(catalog.Binary, machineType, deviceType, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        }
        catch (QemuTestKitException e)
        {
            note($"QEMU would not add a lone '{deviceType}' to machine type '{machineType}', so it counts as bringing no bus: {e.Message}");
            busTypes = [];
        }

        Write(file, new ControllerBusesEntry(catalog.BinaryIdentity, machineType, deviceType, busTypes), ProbeJsonContext.Default.ControllerBusesEntry);
        return busTypes;
    }

    /// <summary>Whether a KVM guest of the catalog's binary runs here (<see cref="KvmProbe"/>), remembered until the binary, kernel or host boot change.</summary>
    public async Task<bool> KvmUsableAsync(QemuCatalog catalog, string? kernel, CancellationToken cancellationToken)
    {
        var kernelKey = kernel is not null && File.Exists(kernel)
            ? string.Create(CultureInfo.InvariantCulture, $"{kernel}|{new FileInfo(kernel).Length}|{File.GetLastWriteTimeUtc(kernel).Ticks}")
            : kernel ?? "-";
        var file = FileFor("kvm", catalog, $"{kernelKey}|{BootId()}");
        if (Read(file, ProbeJsonContext.Default.KvmEntry) is { } cached && cached.Binary == catalog.BinaryIdentity)
        {
            return cached.Usable;
        }

        var usable = await KvmProbe.IsUsableAsync(catalog.Binary, kernel, cancellationToken: cancellationToken).ConfigureAwait(false);
        Write(file, new KvmEntry(catalog.BinaryIdentity, usable), ProbeJsonContext.Default.KvmEntry);
        return usable;
    }

    private string FileFor(string kind, QemuCatalog catalog, string detail)
    {
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{catalog.BinaryIdentity}|{detail}")))[..16].ToLowerInvariant();
        return Path.Combine(_directory, $"{kind}-{Path.GetFileName(catalog.Binary)}-{key}.json");
    }

    private static string BootId()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    private static T? Read<T>(string file, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            using var stream = File.OpenRead(file);
            return JsonSerializer.Deserialize(stream, type);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    // A cache that cannot be written costs time, not correctness.
    private static void Write<T>(string file, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var temp = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(value, type));
            File.Move(temp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception inner) when (inner is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}

internal sealed record ControllerBusesEntry(BinaryIdentity Binary, string MachineType, string DeviceType, IReadOnlyList<string> BusTypes);

internal sealed record KvmEntry(BinaryIdentity Binary, bool Usable);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(KvmEntry))]
[JsonSerializable(typeof(ControllerBusesEntry))]
internal sealed partial class ProbeJsonContext : JsonSerializerContext;
