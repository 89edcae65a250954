using System.Globalization;
using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Introspection.DeviceTree;

/// <summary>
/// Reads a machine's device/bus tree over QMP. There is no QMP twin of <c>info qtree</c>, but every device and bus is
/// a QOM object under <c>/machine</c>: children are <c>child&lt;TYPE&gt;</c> properties, a device's bus is its
/// <c>parent_bus</c> link and a PCI device's address is its <c>addr</c> property (devfn).
/// </summary>
public sealed class DeviceTreeReader
{
    // The bulk of the QOM tree, and never devices or buses.
    private static readonly HashSet<string> SkippedTypes = new(StringComparer.Ordinal) { "memory-region", "irq" };

    /// <summary>Starts <paramref name="binary"/> paused as <paramref name="machineType"/> (plus extra arguments such as
    /// <c>-device e1000,id=nic0</c>), reads its tree, and stops it.</summary>
    public static async Task<MachineDeviceTree> ReadAsync(string binary, string machineType, IReadOnlyList<string>? extraArguments = null,
        TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var resolved = QemuBinary.Resolve(binary);
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        var arguments = new List<string> { "-machine", machineType };
        arguments.AddRange(extraArguments ?? []);
        using var deadline = Timeouts.Link(limit, cancellationToken);
        try
        {
            var session = await QemuProbeSession.StartAsync(resolved.Path, arguments, limit, deadline.Token).ConfigureAwait(false);
            await using (session.ConfigureAwait(false))
            {
                return await ReadAsync(session.Qmp, machineType, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new QemuProbeException($"reading the device tree of machine '{machineType}' did not finish within {limit.TotalSeconds:0} s");
        }
        catch (QemuProbeException e)
        {
            throw new QemuProbeException($"reading the device tree of machine '{machineType}' failed: {e.Message}", e);
        }
        catch (QmpException e)
        {
            throw new QemuProbeException($"reading the device tree of machine '{machineType}' failed: {e.Message}", e);
        }
    }

    /// <summary>Reads the tree of the machine behind an open QMP connection.</summary>
    public static async Task<MachineDeviceTree> ReadAsync(QmpClient qmp, string machineType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(qmp);
        var deviceTypes = await TypesImplementingAsync(qmp, "device", cancellationToken).ConfigureAwait(false);
        var busTypes = await TypesImplementingAsync(qmp, "bus", cancellationToken).ConfigureAwait(false);

        var devices = new List<(string Path, string Type, string? Bus, string? Address)>();
        var buses = new List<(string Path, string Type, string Parent)>();
        var queue = new Queue<(string Path, string Type)>();
        queue.Enqueue(("/machine", "machine"));
        while (queue.Count > 0)
        {
            var (path, nodeType) = queue.Dequeue();
            var properties = await ListAsync(qmp, path, cancellationToken).ConfigureAwait(false);
            if (deviceTypes.Contains(nodeType))
            {
                var bus = properties.ContainsKey("parent_bus")
                    ? await GetStringAsync(qmp, path, "parent_bus", cancellationToken).ConfigureAwait(false)
                    : null;
                var address = properties.TryGetValue("addr", out var addrType) && addrType == "int32"
                    ? FormatPciAddress(await GetAsync(qmp, path, "addr", cancellationToken).ConfigureAwait(false))
                    : null;
                devices.Add((path, nodeType, string.IsNullOrEmpty(bus) ? null : bus, address));
            }

            foreach (var (name, type) in properties.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (!type.StartsWith("child<", StringComparison.Ordinal))
                {
                    continue;
                }

                var childType = type["child<".Length..^1];
                if (SkippedTypes.Contains(childType))
                {
                    continue;
                }

                var childPath = $"{path}/{name}";
                queue.Enqueue((childPath, childType));
                if (busTypes.Contains(childType))
                {
                    buses.Add((childPath, childType, path));
                }
            }
        }

        return Assemble(machineType, devices, buses);
    }

    private static MachineDeviceTree Assemble(string machineType, List<(string Path, string Type, string? Bus, string? Address)> devices,
        List<(string Path, string Type, string Parent)> buses)
    {
        var devicesByBus = devices.Where(d => d.Bus is not null).ToLookup(d => d.Bus!, StringComparer.Ordinal);
        var busesByParent = buses.ToLookup(b => b.Parent, StringComparer.Ordinal);

        QomDeviceNode BuildDevice((string Path, string Type, string? Bus, string? Address) d) =>
            new(d.Path, d.Type, IdOf(d.Path), d.Bus, d.Address, busesByParent[d.Path].OrderBy(b => b.Path, StringComparer.Ordinal).Select(BuildBus).ToArray());

        QomBusNode BuildBus((string Path, string Type, string Parent) b) =>
            new(b.Path, b.Path[(b.Path.LastIndexOf('/') + 1)..], b.Type, devicesByBus[b.Path]
                .OrderBy(d => d.Address ?? string.Empty, StringComparer.Ordinal)
                .ThenBy(d => d.Path, StringComparer.Ordinal)
                .Select(BuildDevice)
                .ToArray());

        var devicePaths = devices.Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
        var rootBuses = buses.Where(b => !devicePaths.Contains(b.Parent)).ToArray();
        var root = rootBuses.FirstOrDefault(b => b.Type == "System");
        if (root == default)
        {
            root = rootBuses.FirstOrDefault();
        }

        var rootNode = root == default ? new QomBusNode("/machine/unattached/sysbus", "main-system-bus", "System", []) : BuildBus(root);
        var busless = devices.Where(d => d.Bus is null && !devicesByBus.Contains(d.Path))
            .OrderBy(d => d.Path, StringComparer.Ordinal)
            .Select(BuildDevice)
            .ToArray();
        return new MachineDeviceTree(machineType, rootNode, busless);
    }

    private static string? IdOf(string path)
    {
        const string peripheral = "/machine/peripheral/";
        return path.StartsWith(peripheral, StringComparison.Ordinal) && path.IndexOf('/', peripheral.Length) < 0
            ? path[peripheral.Length..]
            : null;
    }

    private static string? FormatPciAddress(JsonNode? devfn)
    {
        if (devfn is not JsonValue value || !value.TryGetValue<int>(out var number) || number < 0)
        {
            return null;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{number >> 3:x2}.{number & 7:x}");
    }

    private static async Task<HashSet<string>> TypesImplementingAsync(QmpClient qmp, string parent, CancellationToken ct)
    {
        var types = await qmp.ExecuteAsync("qom-list-types", new JsonObject { ["implements"] = parent, ["abstract"] = true },
            QmpWireContext.Default.ListQmpObjectTypeInfo, cancellationToken: ct).ConfigureAwait(false);
        return types.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
    }

    private static async Task<Dictionary<string, string>> ListAsync(QmpClient qmp, string path, CancellationToken ct)
    {
        var properties = await qmp.ExecuteAsync("qom-list", new JsonObject { ["path"] = path },
            QmpWireContext.Default.ListQmpObjectPropertyInfo, cancellationToken: ct).ConfigureAwait(false);
        var byName = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in properties)
        {
            byName[property.Name] = property.Type;
        }

        return byName;
    }

    private static Task<JsonNode?> GetAsync(QmpClient qmp, string path, string property, CancellationToken ct)
        => qmp.ExecuteAsync("qom-get", new JsonObject { ["path"] = path, ["property"] = property }, cancellationToken: ct);

    private static async Task<string?> GetStringAsync(QmpClient qmp, string path, string property, CancellationToken ct)
    {
        var value = await GetAsync(qmp, path, property, ct).ConfigureAwait(false);
        return value is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;
    }
}
