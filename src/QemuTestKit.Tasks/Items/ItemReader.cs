using System.Collections;
using Microsoft.Build.Framework;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using QemuTestKit.Tasks.Diagnostics;
using static QemuTestKit.Tasks.Items.ItemTypes;

namespace QemuTestKit.Tasks.Items;

/// <summary>
/// Reads the <c>QemuMachine</c>, <c>QemuDisk</c>, <c>QemuNic</c> and <c>QemuDevice</c> items of a project into machine
/// declarations, reporting every malformed value, duplicate name and dangling machine reference (QTK2xxx) in one go.
/// Paths are made absolute against the project directory.
/// </summary>
internal sealed class ItemReader
{
    private readonly string _projectDirectory;
    private readonly string _projectFile;
    private readonly List<Diagnostic> _diagnostics = [];

    public ItemReader(string projectFile)
    {
        _projectFile = Path.GetFullPath(projectFile);
        _projectDirectory = Path.GetDirectoryName(_projectFile)!;
    }

    public IReadOnlyList<Diagnostic> Diagnostics => _diagnostics;

    public IReadOnlyList<MachineDeclaration> Read(IReadOnlyList<ITaskItem> machines, IReadOnlyList<ITaskItem> disks,
        IReadOnlyList<ITaskItem> nics, IReadOnlyList<ITaskItem> devices)
    {
        var drafts = new List<Draft>();
        var byName = new Dictionary<string, Draft>(StringComparer.OrdinalIgnoreCase);
        foreach (var (item, reference) in WithRefs(Machine, machines, machine: null))
        {
            WarnUnknownMetadata(item, reference);
            if (byName.TryGetValue(reference.Include, out var first))
            {
                var same = first.Item.Include == reference.Include ? "is already declared" : $"differs only in case from '{first.Item.Include}'";
                Add(TaskErrorCodes.DuplicateMachineName, reference, Include,
                    $"'{reference.Include}' {same}: machine names must be unique in a project (ignoring case), as they name the machine's state directory");
                continue;
            }

            var draft = ReadMachine(item, reference);
            byName[reference.Include] = draft;
            drafts.Add(draft);
        }

        foreach (var (item, reference) in WithRefs(Disk, disks, MachineOf))
        {
            WarnUnknownMetadata(item, reference);
            if (Owner(item, reference, byName) is { } owner)
            {
                owner.Disks.Add(ReadDisk(item, reference, owner));
                owner.DiskItems.Add(reference);
            }
        }

        foreach (var (item, reference) in WithRefs(Nic, nics, MachineOf))
        {
            WarnUnknownMetadata(item, reference);
            if (Owner(item, reference, byName) is { } owner)
            {
                owner.Nics.Add(ReadNic(item, reference, owner));
                owner.NicItems.Add(reference);
            }
        }

        foreach (var (item, reference) in WithRefs(Device, devices, MachineOf))
        {
            WarnUnknownMetadata(item, reference);
            if (Owner(item, reference, byName) is { } owner)
            {
                owner.Devices.Add(ReadDevice(item, reference, owner));
                owner.DeviceItems.Add(reference);
            }
        }

        return drafts.Select(d => new MachineDeclaration(d.Item, d.Spec with { Disks = d.Disks, Nics = d.Nics, Devices = d.Devices },
            d.Prepare, d.DiskItems, d.NicItems, d.DeviceItems, d.Unreadable) { Host = d.Host, Image = d.Image, Record = d.Record }).ToArray();
    }

    private static string? MachineOf(ITaskItem item) => Value(item, MachineReference);

    private IEnumerable<(ITaskItem Item, ItemRef Ref)> WithRefs(string itemType, IReadOnlyList<ITaskItem> items, Func<ITaskItem, string?>? machine)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var include = item.ItemSpec.Trim();
            seen[include] = seen.TryGetValue(include, out var n) ? n + 1 : 0;
            var defining = item.GetMetadata("DefiningProjectFullPath");
            yield return (item, new ItemRef(itemType, include, seen[include], machine?.Invoke(item),
                string.IsNullOrEmpty(defining) ? _projectFile : defining));
        }
    }

    private Draft ReadMachine(ITaskItem item, ItemRef reference)
    {
        var draft = new Draft(reference);
        var machineType = Value(item, MachineMetadata.MachineType);
        if (machineType is null)
        {
            Add(TaskErrorCodes.MissingMetadata, reference, MachineMetadata.MachineType,
                "missing: every machine needs a machine type (q35, pc, virt...; 'qemutestkit introspect' lists them)");
            draft.Unreadable.Add((reference, MachineMetadata.MachineType));
        }

        var spec = new MachineSpec { Name = reference.Include, MachineType = machineType ?? string.Empty };
        if (Value(item, MachineMetadata.Qemu) is { } qemu)
        {
            spec = spec with { Qemu = MetadataValues.LooksLikePath(qemu) ? MetadataValues.AbsolutePath(qemu, _projectDirectory) : qemu };
        }

        if (Value(item, MachineMetadata.Architecture) is { } architecture)
        {
            spec = spec with { Architecture = architecture };
        }

        if (Parse<IReadOnlyDictionary<string, string>>(draft, item, reference, MachineMetadata.MachineOptions, MetadataValues.TryParseKeyValues,
                TaskErrorCodes.MalformedKeyValueList) is { } options)
        {
            spec = spec with { MachineOptions = options };
        }

        spec = spec with { Cpu = Value(item, MachineMetadata.Cpu) };
        if (ParseStruct<int>(draft, item, reference, MachineMetadata.Memory, MetadataValues.TryParseMemoryMiB, TaskErrorCodes.MalformedMemorySize) is { } memory)
        {
            spec = spec with { MemoryMiB = memory };
        }

        if (ParseStruct<int>(draft, item, reference, MachineMetadata.Smp, MetadataValues.TryParseInteger, TaskErrorCodes.MalformedNumber) is { } smp)
        {
            spec = spec with { Smp = smp };
        }

        if (ParseStruct<Accelerator>(draft, item, reference, MachineMetadata.Accelerator, MetadataValues.TryParseAccelerator,
                TaskErrorCodes.UnknownAccelerator) is { } accelerator)
        {
            spec = spec with { Accelerator = accelerator };
        }

        spec = spec with
        {
            Kernel = PathValue(item, MachineMetadata.Kernel),
            Initrd = PathValue(item, MachineMetadata.Initrd),
            Append = Value(item, MachineMetadata.Append),
            Firmware = Value(item, MachineMetadata.Firmware) is { } firmware && MetadataValues.LooksLikePath(firmware)
                ? MetadataValues.AbsolutePath(firmware, _projectDirectory)
                : Value(item, MachineMetadata.Firmware),
        };

        if (ParseStruct<int>(draft, item, reference, MachineMetadata.SerialConsoles, MetadataValues.TryParseInteger, TaskErrorCodes.MalformedNumber) is { } consoles)
        {
            spec = spec with { SerialConsoles = consoles };
        }

        var timeout = ParseStruct<int>(draft, item, reference, MachineMetadata.ReadyTimeout, MetadataValues.TryParseSeconds, TaskErrorCodes.MalformedNumber);
        spec = spec with { Ready = new ReadyCondition(RawValue(item, MachineMetadata.ReadyPattern), timeout ?? new ReadyCondition().TimeoutSeconds) };
        if (Value(item, MachineMetadata.ExtraArguments) is { } extra)
        {
            spec = spec with { ExtraArguments = MetadataValues.SplitArguments(extra) };
        }

        draft.Prepare = ParseStruct<bool>(draft, item, reference, MachineMetadata.Prepare, MetadataValues.TryParseBoolean, TaskErrorCodes.MalformedBoolean) ?? false;
        draft.Record = ParseStruct<bool>(draft, item, reference, MachineMetadata.Record, MetadataValues.TryParseBoolean, TaskErrorCodes.MalformedBoolean);
        draft.Spec = spec;
        ReadHost(item, reference, draft);
        return draft;
    }

    /// <summary>Host (local or container, any case) and, for a container, its Image; an Image on a local machine is ignored with a warning.</summary>
    private void ReadHost(ITaskItem item, ItemRef reference, Draft draft)
    {
        var host = Value(item, MachineMetadata.Host);
        if (host is not null && Hosts.All.FirstOrDefault(h => string.Equals(h, host, StringComparison.OrdinalIgnoreCase)) is not { } known)
        {
            var suggestions = NearMiss.Suggest(host, Hosts.All);
            var hint = suggestions.Count > 0 ? $"; did you mean {string.Join(" or ", suggestions.Select(s => $"'{s}'"))}?" : string.Empty;
            Add(TaskErrorCodes.UnknownHost, reference, MachineMetadata.Host,
                $"'{host}' is not where a machine can run: use 'local' (QEMU on this host) or 'container' (QEMU in the image named by Image){hint}");
            draft.Unreadable.Add((reference, MachineMetadata.Host));
            return;
        }

        draft.Host = host is null ? Hosts.Local : Hosts.All.First(h => string.Equals(h, host, StringComparison.OrdinalIgnoreCase));
        var image = Value(item, MachineMetadata.Image);
        if (draft.Host == Hosts.Container)
        {
            draft.Image = image ?? Hosts.DefaultImage;
        }
        else if (image is not null)
        {
            Add(TaskErrorCodes.UnknownMetadata, reference, MachineMetadata.Image,
                $"'{image}' is ignored: Image names the container image of a machine with Host=\"container\", and this machine runs locally");
        }
    }

    private DiskSpec ReadDisk(ITaskItem item, ItemRef reference, Draft owner)
    {
        var disk = new DiskSpec(MetadataValues.AbsolutePath(reference.Include, _projectDirectory), Value(item, DiskMetadata.Format));
        if (Value(item, DiskMetadata.Interface) is { } face)
        {
            disk = disk with { Interface = MetadataValues.DiskInterface(face) };
        }

        var readOnly = ParseStruct<bool>(owner, item, reference, DiskMetadata.ReadOnly, MetadataValues.TryParseBoolean, TaskErrorCodes.MalformedBoolean);
        return disk with { ReadOnly = readOnly ?? false, Id = Value(item, DiskMetadata.Id) };
    }

    private NicSpec ReadNic(ITaskItem item, ItemRef reference, Draft owner)
    {
        var nic = new NicSpec(Id: reference.Include, Mac: Value(item, NicMetadata.Mac));
        if (Value(item, NicMetadata.Model) is { } model)
        {
            nic = nic with { Model = model };
        }

        var forwards = Parse<IReadOnlyList<HostForward>>(owner, item, reference, NicMetadata.HostForwards, MetadataValues.TryParseHostForwards,
            TaskErrorCodes.MalformedHostForward);
        return forwards is { Count: > 0 } ? nic with { HostForwards = forwards } : nic;
    }

    private DeviceSpec ReadDevice(ITaskItem item, ItemRef reference, Draft owner)
    {
        var properties = Parse<IReadOnlyDictionary<string, string>>(owner, item, reference, DeviceMetadata.Properties, MetadataValues.TryParseKeyValues,
            TaskErrorCodes.MalformedKeyValueList);
        return new DeviceSpec(reference.Include, properties is { Count: > 0 } ? properties : null, Value(item, DeviceMetadata.Id));
    }

    private Draft? Owner(ITaskItem item, ItemRef reference, Dictionary<string, Draft> byName)
    {
        var name = reference.Machine;
        if (name is null)
        {
            Add(TaskErrorCodes.MissingMetadata, reference, MachineReference,
                $"missing: a {reference.ItemType} belongs to a machine; set Machine to the Include of a QemuMachine");
            return null;
        }

        if (byName.TryGetValue(name, out var owner) && owner.Item.Include == name)
        {
            return owner;
        }

        var declared = byName.Values.Select(d => d.Item.Include).ToArray();
        var suggestions = owner is not null ? [owner.Item.Include] : NearMiss.Suggest(name, declared);
        var hint = suggestions.Count > 0 ? $"; did you mean {string.Join(" or ", suggestions.Select(s => $"'{s}'"))}?" : string.Empty;
        var list = declared.Length == 0 ? "the project declares no QemuMachine" : $"declared machines: {string.Join(", ", declared)}";
        Add(TaskErrorCodes.UndeclaredMachine, reference, MachineReference, $"'{name}' is not a declared QemuMachine ({list}){hint}");
        return null;
    }

    private void WarnUnknownMetadata(ITaskItem item, ItemRef reference)
    {
        var known = KnownMetadata(reference.ItemType);
        foreach (var name in ((IDictionary)item.CloneCustomMetadata()).Keys.OfType<string>().Order(StringComparer.Ordinal))
        {
            if (known.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            var suggestions = NearMiss.Suggest(name, known);
            var hint = suggestions.Count > 0 ? $"; did you mean {string.Join(" or ", suggestions.Select(s => $"'{s}'"))}?" : string.Empty;
            Add(TaskErrorCodes.UnknownMetadata, reference, name,
                $"not a metadata name of {reference.ItemType}, so it is ignored (known: {string.Join(", ", known)}){hint}");
        }
    }

    private delegate bool TryParse<T>(string text, out T value, out string? problem);

    private T? Parse<T>(Draft draft, ITaskItem item, ItemRef reference, string metadata, TryParse<T> parse, string code)
        where T : class
    {
        if (Value(item, metadata) is not { } text)
        {
            return null;
        }

        if (parse(text, out var value, out var problem))
        {
            return value;
        }

        Add(code, reference, metadata, $"'{text}' {problem}");
        draft.Unreadable.Add((reference, metadata));
        return null;
    }

    private T? ParseStruct<T>(Draft draft, ITaskItem item, ItemRef reference, string metadata, TryParse<T> parse, string code)
        where T : struct
    {
        if (Value(item, metadata) is not { } text)
        {
            return null;
        }

        if (parse(text, out var value, out var problem))
        {
            return value;
        }

        Add(code, reference, metadata, $"'{text}' {problem}");
        draft.Unreadable.Add((reference, metadata));
        return null;
    }

    private string? PathValue(ITaskItem item, string metadata) =>
        Value(item, metadata) is { } path ? MetadataValues.AbsolutePath(path, _projectDirectory) : null;

    /// <summary>A metadata value, or null when it is absent or only white space (then the spec's default applies).</summary>
    private static string? Value(ITaskItem item, string metadata)
    {
        var value = item.GetMetadata(metadata);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    /// <summary>A metadata value as written (patterns keep their spaces), or null when absent or empty.</summary>
    private static string? RawValue(ITaskItem item, string metadata)
    {
        var value = item.GetMetadata(metadata);
        return string.IsNullOrEmpty(value) ? null : value;
    }

    private void Add(string code, ItemRef reference, string metadata, string text) =>
        _diagnostics.Add(Diagnostic.Of(code, reference, metadata, text));

    private sealed class Draft(ItemRef item)
    {
        public ItemRef Item { get; } = item;

        public MachineSpec Spec { get; set; } = null!;

        public bool Prepare { get; set; }

        public bool? Record { get; set; }

        public string Host { get; set; } = Hosts.Local;

        public string? Image { get; set; }

        public List<DiskSpec> Disks { get; } = [];

        public List<NicSpec> Nics { get; } = [];

        public List<DeviceSpec> Devices { get; } = [];

        public List<ItemRef> DiskItems { get; } = [];

        public List<ItemRef> NicItems { get; } = [];

        public List<ItemRef> DeviceItems { get; } = [];

        public HashSet<(ItemRef Item, string Metadata)> Unreadable { get; } = [];
    }
}
