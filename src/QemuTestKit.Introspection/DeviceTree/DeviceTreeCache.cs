using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Introspection.DeviceTree;

/// <summary>
/// Device trees cached next to the catalogs, one file per binary and machine type, invalid once the binary changes:
/// the build's bus checks and every run's device placement read the same tree, and a no-op build or a test run from a
/// ready state starts no QEMU for it. Writes are atomic (temp file, then rename), so concurrent readers are safe.
/// </summary>
public sealed class DeviceTreeCache(string? directory = null)
{
    /// <summary>Where the trees live: <see cref="CatalogCache.DefaultDirectory"/> unless overridden.</summary>
    public string Directory { get; } = directory ?? CatalogCache.DefaultDirectory();

    /// <summary>The tree of <paramref name="machineType"/> as <paramref name="catalog"/>'s binary builds it.</summary>
    /// <exception cref="QemuProbeException">QEMU could not build the machine, or did not answer in time.</exception>
    public async Task<MachineDeviceTree> GetAsync(QemuCatalog catalog, string machineType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var file = FileFor(catalog, machineType);
        if (Read(file) is { } cached && cached.Binary == catalog.BinaryIdentity && cached.MachineType == machineType)
        {
            return cached.Tree;
        }

        var tree = await DeviceTreeReader.ReadAsync(catalog.Binary, machineType, timeout: TimeSpan.FromSeconds(60), cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        Write(file, new DeviceTreeEntry(catalog.BinaryIdentity, machineType, tree));
        return tree;
    }

    /// <summary>Like <see cref="GetAsync"/>, but null when QEMU could not build the tree (a run then fails with QEMU's own words).</summary>
    public async Task<MachineDeviceTree?> TryGetAsync(QemuCatalog catalog, string machineType, CancellationToken cancellationToken = default)
    {
        try
        {
            return await GetAsync(catalog, machineType, cancellationToken).ConfigureAwait(false);
        }
        catch (QemuProbeException)
        {
            return null;
        }
    }

    private string FileFor(QemuCatalog catalog, string machineType)
    {
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{catalog.BinaryIdentity}|{machineType}")))[..16].ToLowerInvariant();
        return Path.Combine(Directory, $"devicetree-{Path.GetFileName(catalog.Binary)}-{key}.json");
    }

    private static DeviceTreeEntry? Read(string file)
    {
        try
        {
            using var stream = File.OpenRead(file);
            return JsonSerializer.Deserialize(stream, DeviceTreeJsonContext.Default.DeviceTreeEntry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    // A cache that cannot be written costs time, not correctness.
    private static void Write(string file, DeviceTreeEntry entry)
    {
        var temp = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(entry, DeviceTreeJsonContext.Default.DeviceTreeEntry));
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

/// <summary>One cached tree and what it was read from.</summary>
internal sealed record DeviceTreeEntry(BinaryIdentity Binary, string MachineType, MachineDeviceTree Tree);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(DeviceTreeEntry))]
internal sealed partial class DeviceTreeJsonContext : JsonSerializerContext;
